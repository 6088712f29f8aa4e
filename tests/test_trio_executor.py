"""``trioloop.TrioExecutor`` (executor jobs in Trio's threads, under a Trio
limiter) and the adapters' ``loop=`` argument (reaching an outer loop).

Both are trioloop's own API (stock asyncio has no Trio threads or nested
hosted loops), so these tests run on trioloop only."""

from __future__ import annotations

import asyncio
import threading

import pytest
import trio
import trio.testing

import trioloop

pytestmark = pytest.mark.trio


async def test_jobs_run_in_trio_threads_under_the_limiter():
    limiter = trio.CapacityLimiter(2)
    running = 0
    most = 0
    changed = threading.Condition()
    release = threading.Event()

    def job(n: int) -> int:
        nonlocal running, most
        with changed:
            running += 1
            most = max(most, running)
            changed.notify_all()
        release.wait(10)
        with changed:
            running -= 1
        return n * 2

    def two_running() -> bool:
        with changed:
            return changed.wait_for(lambda: running == 2, timeout=10)

    async with trioloop.open_loop() as loop:
        executor = trioloop.TrioExecutor(limiter=limiter)

        async def main() -> list[int]:
            return await asyncio.gather(
                *(loop.run_in_executor(executor, job, n) for n in range(5))
            )

        async with trio.open_nursery() as nursery:
            results: list[int] = []

            async def collect() -> None:
                results.extend(await trioloop.aio_as_trio(main)())

            nursery.start_soon(collect)
            assert await trio.to_thread.run_sync(two_running)
            await trio.testing.wait_all_tasks_blocked()
            # Two jobs hold the limiter's two tokens; the others wait in Trio.
            assert limiter.borrowed_tokens == 2
            assert limiter.statistics().tasks_waiting == 3
            release.set()
    assert results == [0, 2, 4, 6, 8]
    assert most == 2


async def test_default_executor_and_its_shutdown():
    done = []
    async with trioloop.open_loop() as loop:
        executor = trioloop.TrioExecutor(max_workers=1)
        loop.set_default_executor(executor)
        assert executor.limiter is not None
        assert executor.limiter.total_tokens == 1

        async def main() -> str:
            return await asyncio.to_thread(lambda: done.append(1) or "ok")

        assert await trioloop.aio_as_trio(main)() == "ok"
    # open_loop shut the default executor down: it takes no more jobs.
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(print)
    assert done == [1]


async def test_a_job_cancelled_before_it_starts_never_runs():
    limiter = trio.CapacityLimiter(1)
    release = threading.Event()
    ran = []

    async with trioloop.open_loop() as loop:
        executor = trioloop.TrioExecutor(limiter)

        async def main() -> None:
            first = loop.run_in_executor(executor, release.wait, 10)
            second = loop.run_in_executor(executor, ran.append, "second")
            await asyncio.sleep(0)
            second.cancel()
            release.set()
            assert await first is True
            with pytest.raises(asyncio.CancelledError):
                await second

        await trioloop.aio_as_trio(main)()
    assert ran == []


async def test_job_errors_reach_the_caller():
    async with trioloop.open_loop() as loop:
        executor = trioloop.TrioExecutor()

        def fail() -> None:
            raise LookupError("in the job")

        with pytest.raises(LookupError, match="in the job"):
            await trioloop.aio_as_trio(loop.run_in_executor)(executor, fail)
        executor.shutdown(wait=False)


async def test_submit_outside_a_trioloop_loop_is_an_error():
    executor = trioloop.TrioExecutor()
    with pytest.raises(RuntimeError, match="no running event loop"):
        executor.submit(print)

    async def on_stock_asyncio() -> None:
        with pytest.raises(
            RuntimeError, match="needs asyncio code running on a trioloop"
        ):
            executor.submit(print)

    await trio.to_thread.run_sync(asyncio.run, on_stock_asyncio())


async def test_waiting_shutdown_inside_the_trio_run_refuses_to_deadlock():
    limiter = trio.CapacityLimiter(1)
    release = threading.Event()
    async with trioloop.open_loop() as loop:
        executor = trioloop.TrioExecutor(limiter)

        async def main() -> None:
            first = loop.run_in_executor(executor, release.wait, 10)
            second = loop.run_in_executor(executor, lambda: None)
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="would wait forever"):
                executor.shutdown(wait=True)
            release.set()
            await asyncio.gather(first, second)
            executor.shutdown(wait=True)  # nothing left to wait for

        await trioloop.aio_as_trio(main)()


async def test_aio_as_trio_reaches_an_outer_loop():
    async def loop_of_the_task() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async with trioloop.open_loop() as outer, trioloop.open_loop() as inner:
        assert await trioloop.aio_as_trio(loop_of_the_task)() is inner
        assert await trioloop.aio_as_trio(loop_of_the_task, loop=outer)() is outer
        coro = loop_of_the_task()
        assert await trioloop.aio_as_trio(coro, loop=outer) is outer

        async def numbers():
            assert asyncio.get_running_loop() is outer
            yield 1
            yield 2

        assert [n async for n in trioloop.aio_as_trio(numbers(), loop=outer)] == [1, 2]


async def test_loop_argument_must_be_a_running_trioloop_loop():
    async def nothing() -> None:
        pass

    stock = asyncio.new_event_loop()
    try:
        async with trioloop.open_loop():
            with pytest.raises(RuntimeError, match="is not a running trioloop loop"):
                await trioloop.aio_as_trio(nothing, loop=stock)()
    finally:
        stock.close()


async def test_trio_as_aio_loop_must_be_the_running_loop():
    async def in_trio() -> str:
        await trio.lowlevel.checkpoint()
        return "trio"

    async with trioloop.open_loop() as outer, trioloop.open_loop() as inner:

        async def main() -> None:
            assert await trioloop.trio_as_aio(in_trio, loop=inner)() == "trio"
            with pytest.raises(RuntimeError, match="may only name that loop"):
                await trioloop.trio_as_aio(in_trio, loop=outer)()

        await trioloop.aio_as_trio(main)()


async def test_open_loop_factory_must_make_a_trioloop_loop():
    with pytest.raises(TypeError, match="not a TrioEventLoop"):
        async with trioloop.open_loop(loop_factory=asyncio.new_event_loop):  # type: ignore[arg-type]
            pass
