"""Shields and cancellation across the bridge.

The Trio side of a ``trio_as_aio`` call runs in the loop's nursery, not
under its asyncio caller; these tests pin that it is cancelled when, and
only when, its caller is (or when the loop closes, after the asyncio tasks
are done), and that what it raises while cancelled reaches the caller.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
import trio

import trioloop
from trioloop import aio_as_trio, trio_as_aio

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup


def test_shield_around_the_crossing_holds_when_the_block_is_cancelled():
    # The program: the Trio side must finish under the shield.
    log = []

    async def trio_side():
        await trio.sleep(0.3)
        log.append("trio side finished")
        return "done"

    async def aio_side():
        return await trio_as_aio(trio_side)()

    async def main():
        with trio.move_on_after(0.05) as outer:
            async with trioloop.open_loop():
                with trio.CancelScope(shield=True):
                    log.append(await aio_as_trio(aio_side)())
        assert outer.cancel_called
        return log

    assert trio.run(main) == ["trio side finished", "done"]


def test_nested_shield_holds_at_every_depth():
    # asyncio -> Trio -> asyncio -> Trio, all under one shield.
    finished = []

    async def innermost_trio():
        await trio.sleep(0.3)
        finished.append("innermost trio")
        return 1

    async def inner_aio():
        value = await trio_as_aio(innermost_trio)()
        finished.append("inner asyncio")
        return value + 1

    async def middle_trio():
        value = await aio_as_trio(inner_aio)()
        finished.append("middle trio")
        return value + 1

    async def outer_aio():
        value = await trio_as_aio(middle_trio)()
        finished.append("outer asyncio")
        return value + 1

    async def main():
        with trio.move_on_after(0.05):
            async with trioloop.open_loop():
                with trio.CancelScope(shield=True):
                    return await aio_as_trio(outer_aio)()

    assert trio.run(main) == 4
    assert finished == [
        "innermost trio",
        "inner asyncio",
        "middle trio",
        "outer asyncio",
    ]


def test_block_cancel_reaches_the_trio_side_only_through_its_caller():
    # Without a shield the block's cancel must reach the asyncio caller first:
    # the Trio side sees its cancel only after the caller was cancelled.
    order = []

    async def trio_side():
        try:
            await trio.sleep_forever()
        finally:
            order.append("trio side cancelled")

    async def aio_side():
        try:
            await trio_as_aio(trio_side)()
        except asyncio.CancelledError:
            order.append("caller saw CancelledError")
            raise

    async def main():
        with trio.move_on_after(0.05):
            async with trioloop.open_loop() as loop:
                task = loop.create_task(aio_side())
                await trio.sleep_forever()
        return task

    task = trio.run(main)
    assert task.cancelled()
    assert order == ["trio side cancelled", "caller saw CancelledError"]


def test_nested_block_cancel_stops_each_level_in_order():
    # Nested without a shield: every level ends, innermost first, and the
    # cancel goes through the asyncio callers (each sees CancelledError).
    order = []

    async def innermost_trio():
        try:
            await trio.sleep_forever()
        finally:
            order.append("innermost trio")

    async def inner_aio():
        try:
            await trio_as_aio(innermost_trio)()
        finally:
            order.append("inner asyncio")

    async def middle_trio():
        try:
            await aio_as_trio(inner_aio)()
        finally:
            order.append("middle trio")

    async def outer_aio():
        try:
            await trio_as_aio(middle_trio)()
        finally:
            order.append("outer asyncio")

    async def main():
        with trio.move_on_after(0.05) as outer:
            async with trioloop.open_loop():
                await aio_as_trio(outer_aio)()
        assert outer.cancelled_caught

    trio.run(main)
    assert order == ["innermost trio", "inner asyncio", "middle trio", "outer asyncio"]


def _failing_cleanup_trio_side(started):
    async def trio_side():
        async def child():
            try:
                await trio.sleep_forever()
            finally:
                raise ValueError("clean-up failed")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
            started.set()
            await trio.sleep_forever()

    return trio_side


def test_error_raised_while_cancelled_reaches_the_asyncio_caller():
    # A Trio side cancelled through its caller, whose nursery then fails:
    # the error, not a cancellation, reaches the caller, and nothing escapes
    # the block.
    async def main():
        async with trioloop.open_loop() as loop:
            started = asyncio.Event()
            side = trio_as_aio(_failing_cleanup_trio_side(started))

            async def caller():
                return await side()

            task = loop.create_task(caller())
            await aio_as_trio(started.wait)()
            task.cancel()
            await aio_as_trio(asyncio.wait)([task])
            return task

    task = trio.run(main)
    error = task.exception()
    assert isinstance(error, ExceptionGroup)
    assert [type(e) for e in error.exceptions] == [ValueError]


def test_error_raised_while_the_block_is_cancelled_reaches_the_caller():
    # The block's own cancel (a scope around open_loop) leads to the same:
    # the error goes to the asyncio caller, the block ends by its cancel only.
    results = []

    async def main():
        with trio.move_on_after(5) as outer:
            async with trioloop.open_loop() as loop:
                started = asyncio.Event()
                side = trio_as_aio(_failing_cleanup_trio_side(started))

                async def caller():
                    try:
                        await side()
                    except BaseException as exc:
                        results.append(exc)
                        raise

                loop.create_task(caller())
                await aio_as_trio(started.wait)()
                outer.cancel()
                await trio.sleep_forever()
        assert outer.cancelled_caught

    trio.run(main)
    assert len(results) == 1
    assert isinstance(results[0], ExceptionGroup)
    assert [type(e) for e in results[0].exceptions] == [ValueError]


def test_sync_mode_run_end_cancels_trio_sides_as_documented():
    # Sync mode: the Trio side lives in the current run_forever's trio.run,
    # and ends with it (docs/semantics.rst); its caller sees CancelledError.
    loop = trioloop.new_event_loop()
    try:
        started = asyncio.Event()
        seen = []

        async def trio_side():
            try:
                started.set()
                await trio.sleep_forever()
            finally:
                seen.append("trio side ended")

        async def caller():
            await trio_as_aio(trio_side)()

        task = loop.create_task(caller())
        loop.run_until_complete(started.wait())
        assert seen == ["trio side ended"]
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
    finally:
        loop.close()


# -- what the end of a run does with a task created just before it ----------


def _late_task_record():
    """A coroutine that notes its first step and its cancellation."""
    record = []

    async def late():
        record.append("started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            record.append("cancelled")
            raise

    return record, late


def test_task_created_as_open_loop_ends_takes_its_first_step():
    record, late = _late_task_record()

    async def main():
        async with trioloop.open_loop() as loop:
            loop.create_task(late())

    trio.run(main)
    assert record == ["started", "cancelled"]


@pytest.mark.parametrize("entry", ["asyncio.run", "trioloop.run", "Runner"])
def test_task_created_as_main_returns_takes_its_first_step(entry):
    if entry == "Runner" and sys.version_info < (3, 11):
        pytest.skip("asyncio.Runner (loop_factory) is 3.11+")
    record, late = _late_task_record()

    async def main():
        asyncio.get_running_loop().create_task(late())

    if entry == "asyncio.run":
        asyncio.run(main())
    elif entry == "trioloop.run":
        trioloop.run(main())
    else:
        with asyncio.Runner(loop_factory=trioloop.new_event_loop) as runner:
            runner.run(main())
    assert record == ["started", "cancelled"]
