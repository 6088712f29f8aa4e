"""``trioloop.compat``: trio-asyncio's API on trioloop.

trio-asyncio 0.16's own suite is the main measure (tests/trio_asyncio_suite,
a lane of ``make test``); these tests cover what that suite leaves out: the
errors compat raises where trioloop differs, and the compat pieces it never
reaches.  trio-asyncio's API exists only on trioloop, so nothing here runs on
stock asyncio."""

from __future__ import annotations

import asyncio
import os
import sys
import warnings

import pytest
import trio
import trio.testing

import trioloop
import trioloop.compat as trio_asyncio

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup


@pytest.mark.trio
async def test_open_loop_gives_the_compat_loop_and_current_loop_sees_it():
    assert trio_asyncio.current_loop.get() is None
    async with trio_asyncio.open_loop() as loop:
        assert isinstance(loop, trio_asyncio.TrioEventLoop)
        assert isinstance(loop, trioloop.TrioEventLoop)
        assert trio_asyncio.current_loop.get() is loop
        assert trioloop.current_loop() is loop
    assert trio_asyncio.current_loop.get() is None


@pytest.mark.trio
async def test_closing_a_hosted_loop_in_its_block_is_refused():
    async with trio_asyncio.open_loop() as loop:
        with pytest.raises(RuntimeError, match="closes when its block ends"):
            loop.close()
        assert not loop.is_closed()
    assert loop.is_closed()


@pytest.mark.trio
async def test_queue_len_is_refused():
    with pytest.raises(TypeError, match="queue_len"):
        async with trio_asyncio.open_loop(queue_len=10):
            pass


@pytest.mark.trio
async def test_stop_pauses_the_loop_until_the_block_ends():
    ran = []
    async with trio_asyncio.open_loop() as loop:

        def stop_here() -> None:
            ran.append("before stop")
            loop.stop()
            loop.call_soon(ran.append, "after stop")

        loop.call_soon(stop_here)
        await loop.wait_stopped()
        await trio.testing.wait_all_tasks_blocked()
        assert ran == ["before stop"]  # paused: the later callback waits
    # The block's clean-up ran the loop again.
    assert ran == ["before stop", "after stop"]


@pytest.mark.trio
async def test_stop_from_trio_waits_for_the_queued_callbacks():
    ran = []
    async with trio_asyncio.open_loop() as loop:
        loop.call_soon(ran.append, "queued first")
        await loop.stop().wait()
        assert ran == ["queued first"]
        again = trio.Event()
        assert loop.stop(again) is again
        await again.wait()  # set at once: the loop is stopped already


@pytest.mark.trio
async def test_trioloops_own_loop_still_ignores_stop():
    ran = trio.Event()
    async with trioloop.open_loop() as loop:
        loop.stop()
        loop.call_soon(ran.set)
        await ran.wait()


@pytest.mark.trio
async def test_run_trio_task_starts_now_and_its_errors_fail_the_block():
    started = []

    async def record(what: str) -> None:
        started.append(what)

    async def fail() -> None:
        raise LookupError("in the Trio task")

    async with trio_asyncio.open_loop() as loop:
        loop.run_trio_task(record, "a")
        await trio.testing.wait_all_tasks_blocked()
        assert started == ["a"]

    with pytest.raises(LookupError, match="in the Trio task"):
        async with trio_asyncio.open_loop() as loop:
            loop.run_trio_task(fail)
            await trio.sleep_forever()  # cancelled by the failure

    with pytest.raises(RuntimeError, match="not within|no trioloop event loop"):
        trio_asyncio.run_trio_task(record, "b")


@pytest.mark.trio
async def test_run_trio_task_non_exception_failure_leaves_grouped():
    async def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(BaseExceptionGroup) as caught:
        async with trio_asyncio.open_loop() as loop:
            loop.run_trio_task(interrupt)
            await trio.sleep_forever()
    assert [type(e) for e in caught.value.exceptions] == [KeyboardInterrupt]


@pytest.mark.trio
async def test_run_trio_task_handle_cancels_the_task():
    ended = []

    async def sleeper() -> None:
        try:
            await trio.sleep_forever()
        finally:
            ended.append(True)

    async with trio_asyncio.open_loop() as loop:
        handle = loop.run_trio_task(sleeper)
        await trio.testing.wait_all_tasks_blocked()
        handle.cancel()
        assert handle.cancelled()
        await trio.testing.wait_all_tasks_blocked()
        assert ended == [True]


@pytest.mark.trio
async def test_loop_methods_reach_an_outer_loop():
    async def which_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def in_trio(x: int) -> int:
        await trio.lowlevel.checkpoint()
        return x + 1

    async with trio_asyncio.open_loop() as outer, trio_asyncio.open_loop() as inner:
        assert await outer.run_aio_coroutine(which_loop()) is outer
        assert await trio_asyncio.run_aio_coroutine(which_loop()) is inner
        await outer.synchronize()
        future = outer.trio_as_future(in_trio, 1)
        assert await outer.run_aio_future(future) == 2
        assert await trio_asyncio.run_aio_future(trio_asyncio.run_trio(in_trio, 2)) == 3


@pytest.mark.trio
async def test_run_aio_future_of_a_closed_loop_is_an_error():
    async with trio_asyncio.open_loop() as loop:
        future = loop.create_future()
    with pytest.raises(RuntimeError, match="is not a running trioloop loop"):
        await trio_asyncio.run_aio_future(future)


@pytest.mark.trio
async def test_allow_asyncio_mixes_both_in_one_trio_task():
    async def mixed() -> str:
        await asyncio.sleep(0.001)
        await trio.sleep(0.001)
        return await asyncio.ensure_future(asyncio.sleep(0, "both"))

    async with trio_asyncio.open_loop():
        assert await trio_asyncio.allow_asyncio(mixed) == "both"


@pytest.mark.trio
async def test_autoclose_closes_with_the_loop():
    r, w = os.pipe()
    try:
        async with trio_asyncio.open_loop() as loop:
            loop.autoclose(r)
            loop.autoclose(w)
            loop.no_autoclose(w)
            with pytest.raises(KeyError):
                loop.no_autoclose(w)
        with pytest.raises(OSError):
            os.fstat(r)
        os.fstat(w)  # still open
    finally:
        os.close(w)


@pytest.mark.trio
async def test_errors_reaching_the_default_handler_fail_the_block():
    with pytest.raises(LookupError, match="nobody awaits me"):
        async with trio_asyncio.open_loop() as loop:
            loop.call_exception_handler(
                {
                    "message": "a task failed",
                    "exception": LookupError("nobody awaits me"),
                }
            )
            await trio.sleep_forever()


@pytest.mark.trio
async def test_compat_executor_takes_trio_asyncios_signature():
    limiter = trio.CapacityLimiter(3)
    executor = trio_asyncio.TrioExecutor(limiter, "unused-prefix")
    assert executor.limiter is limiter
    assert trio_asyncio.TrioExecutor(max_workers=2).limiter.total_tokens == 2  # type: ignore[union-attr]
    async with trio_asyncio.open_loop() as loop:
        assert (
            await trio_asyncio.aio_as_trio(loop.run_in_executor)(executor, len, "abc")
            == 3
        )
    executor.shutdown()


def test_old_names_warn_as_in_trio_asyncio():
    assert trio_asyncio.asyncio_as_trio is trio_asyncio.aio_as_trio
    assert trio_asyncio.trio_as_asyncio is trio_asyncio.trio_as_aio
    with pytest.warns(
        trio_asyncio.TrioAsyncioDeprecationWarning, match="TrioChildWatcher"
    ):
        watcher_class = trio_asyncio.TrioChildWatcher
    with (
        watcher_class() as watcher,
        pytest.raises(NotImplementedError, match="no child watcher"),
    ):
        watcher.add_child_handler(1, print)
    with pytest.warns(trio_asyncio.TrioAsyncioDeprecationWarning, match="TrioPolicy"):
        assert trio_asyncio.TrioPolicy is trioloop.EventLoopPolicy
    with pytest.raises(AttributeError):
        trio_asyncio.no_such_name  # noqa: B018


def test_run_runs_a_trio_function_with_a_loop_open():
    async def main(x: int) -> int:
        async def double() -> int:
            await asyncio.sleep(0)
            return 2 * x

        return await trio_asyncio.aio_as_trio(double)()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert trio_asyncio.run(main, 21) == 42


@pytest.mark.trio
async def test_compat_loop_keeps_the_flavour_guard_before_a_stop():
    # The compat loop's driver runs until stop() (so stop() can pause it);
    # it is hosted all the same, so a Trio function awaited by mistake from
    # asyncio code still names the adapter.
    async def aio_side():
        await asyncio.sleep(0)  # on to the driver (not an eager first step)
        with pytest.raises(RuntimeError, match="trio_as_aio"):
            await trio.sleep(0.001)
        return "still fine"

    async with trio_asyncio.open_loop() as loop:
        assert await loop.run_aio_coroutine(aio_side()) == "still fine"
