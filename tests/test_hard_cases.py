"""The hard cases of hosting asyncio in Trio (where the peer's users get hurt).

Where stock asyncio has the same case, the same body runs on it too (``run``
fixture); Trio-only cases (MockClock, guest mode, several loops in one
``trio.run``) compare against what Trio itself promises.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
import trio
import trio.testing
from _support import new_stock_loop

import trioloop
from trioloop import aio_as_trio

# -- delays ------------------------------------------------------------------------


def test_every_delay_asyncio_accepts(run):
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        loop.call_later(-5, fired.append, "negative")
        loop.call_at(loop.time() - 100, fired.append, "past")
        loop.call_later(0, fired.append, "zero")
        huge = loop.call_later(10**9, fired.append, "huge")
        inf = loop.call_later(float("inf"), fired.append, "inf")
        await asyncio.sleep(0.01)
        await asyncio.sleep(-1)
        huge.cancel()
        inf.cancel()
        return sorted(fired)

    assert run(main()) == ["negative", "past", "zero"]


def test_create_task_uses_the_task_class_asyncio_has_now(run, monkeypatch):
    # CPython's own tests swap in the pure-Python Task (asyncio.tasks.Task);
    # create_task must build whatever class that is at the time of the call.
    monkeypatch.setattr(asyncio.tasks, "Task", asyncio.tasks._PyTask)

    async def child():
        return "done"

    async def main():
        task = asyncio.create_task(child(), name="child")
        return type(task), task.get_name(), await task

    assert run(main()) == (asyncio.tasks._PyTask, "child", "done")


def test_loop_that_used_every_feature_keeps_at_most_30_instance_attributes():
    # Past 30 instance attributes CPython (3.11+) stops sharing an object's
    # dict keys, and every attribute lookup in asyncio's hot path slows down.
    # Hosted, with a subprocess, a signal handler and both bridge directions
    # (Windows: the bridge only, as asyncio's selector loop there has neither
    # subprocesses nor signal handlers):
    async def trio_side():
        await trio.sleep(0)

    async def aio_side():
        loop = asyncio.get_running_loop()
        if sys.platform != "win32":
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
            await proc.wait()
            loop.add_signal_handler(signal.SIGUSR1, lambda: None)
            loop.remove_signal_handler(signal.SIGUSR1)
        await trioloop.trio_as_aio(trio_side)()
        return loop

    async def main():
        async with trioloop.open_loop():
            loop = await aio_as_trio(aio_side)()
            return len(vars(loop)), sorted(vars(loop))

    count, names = trio.run(main)
    assert count <= 30, names


# -- threads and finalizers -------------------------------------------------------


def test_call_soon_threadsafe_from_threads_and_finalizers(run):
    async def main():
        loop = asyncio.get_running_loop()
        got = []
        done = loop.create_future()

        def from_thread(i):
            handle = loop.call_soon_threadsafe(got.append, i)
            assert isinstance(handle, asyncio.Handle)

        threads = [threading.Thread(target=from_thread, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        class Finalized:
            def __del__(self):
                loop.call_soon_threadsafe(got.append, "finalizer")

        Finalized()
        gc.collect()
        loop.call_soon(done.set_result, None)
        await done
        await asyncio.sleep(0.01)
        return sorted(map(str, got))

    assert run(main()) == sorted([str(i) for i in range(20)] + ["finalizer"])


@pytest.mark.parametrize("factory", [new_stock_loop, trioloop.new_event_loop])
def test_call_soon_threadsafe_between_runs_and_after_close(factory):
    loop = factory()
    try:
        got = []
        thread = threading.Thread(
            target=loop.call_soon_threadsafe, args=(got.append, "queued")
        )
        thread.start()
        thread.join()
        loop.run_until_complete(asyncio.sleep(0.01))
        assert got == ["queued"]
    finally:
        loop.close()
    errors = []

    def after_close():
        try:
            loop.call_soon_threadsafe(got.append, "late")
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=after_close)
    thread.start()
    thread.join(5)
    assert not thread.is_alive() and len(errors) == 1 and "closed" in str(errors[0])


def test_loops_in_several_threads_do_not_interfere():
    results = {}

    def worker(i):
        async def main():
            await asyncio.sleep(0.01 * (i % 3))
            return i, id(asyncio.get_running_loop())

        results[i] = trioloop.run(main())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(r[0] for r in results.values()) == list(range(6))


# -- Trio's clock is asyncio's clock --------------------------------------------------


def test_mock_clock_makes_asyncio_timeouts_virtual():
    async def aio_side():
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.sleep(7200), timeout=60)
        if sys.version_info >= (3, 11):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(30):
                    await asyncio.sleep(100)
        return loop.time() - start

    async def main():
        async with trioloop.open_loop():
            return await aio_as_trio(aio_side)()

    clock = trio.testing.MockClock(autojump_threshold=0)
    elapsed = trio.run(main, clock=clock)
    expected = 3600 + 60 + (30 if sys.version_info >= (3, 11) else 0)
    assert elapsed == pytest.approx(expected, abs=1)


# -- several loops -----------------------------------------------------------------------


def test_two_loops_side_by_side_are_independent():
    seen = {}

    async def aio_side(name):
        await asyncio.sleep(0.01)
        return asyncio.get_running_loop(), set(asyncio.all_tasks())

    async def block(name):
        async with trioloop.open_loop() as loop:
            assert asyncio.get_running_loop() is loop  # Trio code in the block
            await trio.sleep(0.005)
            assert asyncio.get_running_loop() is loop
            running, tasks = await aio_as_trio(aio_side)(name)
            seen[name] = (loop, running, tasks)

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(block, "a")
            nursery.start_soon(block, "b")
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()

    trio.run(main)
    (loop_a, running_a, tasks_a), (loop_b, running_b, tasks_b) = seen["a"], seen["b"]
    assert loop_a is not loop_b and running_a is loop_a and running_b is loop_b
    assert all(t.get_loop() is loop_a for t in tasks_a)
    assert all(t.get_loop() is loop_b for t in tasks_b)


def test_nested_loops_each_see_their_own():
    async def running():
        return asyncio.get_running_loop()

    async def main():
        async with trioloop.open_loop() as outer:
            async with trioloop.open_loop() as inner:
                assert asyncio.get_running_loop() is inner
                assert trioloop.current_loop() is inner
                assert await aio_as_trio(running)() is inner
            assert asyncio.get_running_loop() is outer
            assert await aio_as_trio(running)() is outer

    trio.run(main)


# -- guest mode ----------------------------------------------------------------------------


def test_open_loop_inside_trio_guest_of_asyncio_host():
    async def aio_side():
        await asyncio.sleep(0.01)
        return asyncio.get_running_loop()

    async def trio_main(host_loop):
        async with trioloop.open_loop() as loop:
            assert await aio_as_trio(aio_side)() is loop
            return loop

    async def host_main():
        host_loop = asyncio.get_running_loop()
        done = host_loop.create_future()
        ticks = []

        async def host_ticker():
            while not done.done():
                assert asyncio.get_running_loop() is host_loop
                ticks.append(1)
                await asyncio.sleep(0.001)

        ticker = asyncio.ensure_future(host_ticker())
        trio.lowlevel.start_guest_run(
            trio_main,
            host_loop,
            run_sync_soon_threadsafe=host_loop.call_soon_threadsafe,
            done_callback=done.set_result,
            host_uses_signal_set_wakeup_fd=True,
        )
        outcome = await done
        await ticker
        return outcome.unwrap(), ticks

    guest_loop, ticks = asyncio.run(host_main())
    assert isinstance(guest_loop, trioloop.TrioEventLoop) and guest_loop.is_closed()
    assert ticks


# -- interrupts ----------------------------------------------------------------------------

SIGINT_PROGRAM = textwrap.dedent(
    """
    import asyncio, sys, trioloop

    async def main():
        try:
            print("ready", flush=True)
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            print("main task cancelled, cleaning up", flush=True)
            await asyncio.sleep(0.01)
            raise

    runner = {"asyncio": asyncio.run, "trioloop": trioloop.run}[sys.argv[1]]
    try:
        runner(main())
    except KeyboardInterrupt:
        print("KeyboardInterrupt raised", flush=True)
    """
)


#: Windows cannot send SIGINT to one child process (only CTRL_C_EVENT to a
#: whole console group), nor run ``preexec_fn``.
sends_sigint = pytest.mark.skipif(
    sys.platform == "win32", reason="Windows cannot send SIGINT to one child process"
)


def interrupt_when_ready(tmp_path, program: str, *args: str) -> str:
    """Run ``program``, send it SIGINT once it prints "ready"; its later output."""
    script = tmp_path / "prog.py"
    script.write_text(program)
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        text=True,
        # a background job may inherit SIGINT ignored; the program must see it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    return out


@sends_sigint
@pytest.mark.parametrize("runner", ["asyncio", "trioloop"])
def test_sigint_cancels_main_task_then_raises_keyboard_interrupt(runner, tmp_path):
    if sys.version_info < (3, 11) and runner == "asyncio":
        pytest.skip("asyncio.run on 3.10 does not cancel the main task on SIGINT")
    out = interrupt_when_ready(tmp_path, SIGINT_PROGRAM, runner)
    assert out.splitlines() == [
        "main task cancelled, cleaning up",
        "KeyboardInterrupt raised",
    ]


TRIO_SIGINT_PROGRAM = textwrap.dedent(
    """
    import asyncio, trio, trioloop

    async def busy_asyncio():
        print("ready", flush=True)
        while True:
            await asyncio.sleep(0)

    async def main():
        async with trioloop.open_loop():
            await trioloop.aio_as_trio(busy_asyncio)()

    try:
        trio.run(main)
    except KeyboardInterrupt:
        print("KeyboardInterrupt out of trio.run", flush=True)
    """
)


@sends_sigint
def test_sigint_under_trio_run_keeps_trio_semantics(tmp_path):
    out = interrupt_when_ready(tmp_path, TRIO_SIGINT_PROGRAM)
    assert out.splitlines() == ["KeyboardInterrupt out of trio.run"]


def test_system_exit_from_asyncio_callback_leaves_trio_run():
    async def main():
        async with trioloop.open_loop() as loop:
            loop.call_soon(sys.exit, 3)
            await trio.sleep(10)

    with pytest.raises(SystemExit) as info:
        trio.run(main)
    assert info.value.code == 3


# -- fork --------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_of_fork_can_start_a_fresh_run():
    async def child_main():
        await asyncio.sleep(0.001)
        return "child ran"

    async def main():
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(read_fd)
                os.write(write_fd, trioloop.run(child_main()).encode())
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(None, os.read, read_fd, 100)
        os.close(read_fd)
        _, status = await loop.run_in_executor(None, os.waitpid, pid, 0)
        return data.decode(), os.waitstatus_to_exitcode(status)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        assert trioloop.run(main()) == ("child ran", 0)


# -- unawaited failures -------------------------------------------------------------------


def test_unawaited_failed_task_is_reported_and_trio_goes_on():
    reported = []

    async def fails():
        raise ValueError("nobody awaits me")

    async def main():
        async with trioloop.open_loop() as loop:
            loop.set_exception_handler(lambda loop, context: reported.append(context))
            loop.create_task(fails())
            await trio.sleep(0.01)
            gc.collect()
        return "trio went on"

    assert trio.run(main) == "trio went on"
    assert [type(c.get("exception")) for c in reported] == [ValueError]
    assert "never retrieved" in reported[0]["message"]
