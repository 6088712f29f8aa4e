"""Nothing of the loop's keeps a finished task, its exception or its
traceback alive once the code that used them is done.

A reference cycle through a loop frame (a traceback's frames link back to
the loop frame that ran the step, and that frame's local still holds the
handle, hence the task and its exception) keeps them until ``gc.collect()``;
asyncio clears those locals, so code and test suites rely on prompt freeing
(anyio's ``TestRefcycles`` checks ``gc.get_referrers``).  Each body runs
with the collector off, on stock asyncio and on trioloop (sync and hosted),
with and without debug mode: a weak reference must be dead by plain
reference counting.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest


class Failed(Exception):
    pass


class Marker:
    """Held in a local of the failing frame: alive while its traceback is
    (tracebacks and frames take no weak references)."""


@pytest.fixture
def no_collector() -> Iterator[None]:
    """Only reference counting frees objects during the test."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _settle() -> None:
    """Let the loop finish the iterations that ran the code (their handles
    are dropped once the next iterations run)."""
    for _ in range(3):
        await asyncio.sleep(0)


def _assert_dead(refs: dict[str, weakref.ref[Any]]) -> None:
    alive = {
        name: type(ref()).__name__ for name, ref in refs.items() if ref() is not None
    }
    assert not alive, f"still referenced without gc.collect(): {alive}"


async def _task_awaited() -> dict[str, weakref.ref[Any]]:
    frame_local = Marker()

    async def child(marker: Marker) -> None:
        raise Failed

    task = asyncio.ensure_future(child(frame_local))
    try:
        await task
    except Failed as exc:
        refs = {"exception": weakref.ref(exc)}
    refs["task"] = weakref.ref(task)
    refs["traceback"] = weakref.ref(frame_local)
    del frame_local
    del task
    await _settle()
    return refs


async def _task_woken_by_a_future() -> dict[str, weakref.ref[Any]]:
    # anyio's shape: the parent waits on its own future, not on the task, so
    # no handle of the parent's holds the finished child.
    woken = asyncio.get_running_loop().create_future()
    frame_local = Marker()

    async def child(marker: Marker) -> None:
        try:
            raise Failed
        finally:
            woken.set_result(None)

    task = asyncio.ensure_future(child(frame_local))
    await woken
    await asyncio.sleep(0)
    exc = task.exception()
    assert isinstance(exc, Failed)
    refs = {
        "task": weakref.ref(task),
        "exception": weakref.ref(exc),
        "traceback": weakref.ref(frame_local),
    }
    del task, exc, frame_local
    await _settle()
    return refs


@pytest.mark.usefixtures("no_collector")
@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
@pytest.mark.parametrize("body", [_task_awaited, _task_woken_by_a_future])
def test_finished_work_is_freed_without_gc(
    run: Callable[..., Any],
    body: Callable[[], Any],
    debug: bool,
) -> None:
    _assert_dead(run(body(), debug=debug))


@pytest.mark.usefixtures("no_collector")
@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_failed_crossings_are_freed_without_gc(debug: bool) -> None:
    """Neither direction of the bridge keeps a failed call's exception,
    traceback or task once the caller is done with it."""
    import trio

    import trioloop

    async def aio_fails(marker: Marker, *, blocks: bool) -> None:
        if blocks:  # else it fails in its first (eager, from 3.12) step
            await asyncio.sleep(0)
        raise Failed

    async def trio_fails(marker: Marker) -> None:
        await trio.sleep(0)
        raise Failed

    async def aio_side() -> dict[str, weakref.ref[Any]]:
        frame_local = Marker()
        try:
            await trioloop.trio_as_aio(trio_fails)(frame_local)
        except Failed as exc:
            refs = {"exception": weakref.ref(exc)}
        refs["traceback"] = weakref.ref(frame_local)
        del frame_local
        await _settle()
        return refs

    async def trio_side(blocks: bool) -> dict[str, weakref.ref[Any]]:
        frame_local = Marker()
        try:
            await trioloop.aio_as_trio(aio_fails)(frame_local, blocks=blocks)
        except Failed as exc:
            refs = {"exception": weakref.ref(exc)}
        refs["traceback"] = weakref.ref(frame_local)
        del frame_local
        return refs

    async def main() -> list[dict[str, weakref.ref[Any]]]:
        async with trioloop.open_loop() as loop:
            loop.set_debug(debug)
            found = [await trio_side(blocks=False), await trio_side(blocks=True)]
            found.append(await trioloop.aio_as_trio(aio_side)())
            for _ in range(3):
                await trio.sleep(0)
            return found

    for refs in trio.run(main):
        _assert_dead(refs)
