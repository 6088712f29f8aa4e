"""Unix signal handlers: ``add_signal_handler``/``remove_signal_handler`` with
real signals sent by ``os.kill``, and their error cases.

Every test body runs on stock asyncio and on trioloop.  The plumbing differs
by design (see ``test_signal_plumbing``): asyncio installs a no-op Python
handler and is woken through ``signal.set_wakeup_fd``; Trio owns the wakeup fd
while it runs, so trioloop installs a Python handler that schedules the
callback.  What a user can observe must not differ.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading

import pytest
from _support import within

if sys.platform == "win32":
    pytest.skip(
        "add_signal_handler: asyncio's Windows selector loop has none (NotImplementedError, tests/test_platform.py)",
        allow_module_level=True,
    )

SIGUSR1, SIGUSR2 = signal.SIGUSR1, signal.SIGUSR2


@pytest.fixture(autouse=True)
def restore_signal_handlers():
    """Whatever a test does, leave SIGUSR1/SIGUSR2/SIGINT as they were."""
    saved = {sig: signal.getsignal(sig) for sig in (SIGUSR1, SIGUSR2, signal.SIGINT)}
    yield
    changed = {sig: h for sig, h in saved.items() if signal.getsignal(sig) != h}
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    assert not changed, f"signal handlers left changed: {changed}"


def test_handler_runs_with_args_in_the_loop(run):
    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()

        def handler(*args):
            got.set_result((args, asyncio.get_running_loop() is loop))

        loop.add_signal_handler(SIGUSR1, handler, "a", 1)
        os.kill(os.getpid(), SIGUSR1)
        assert await within(got) == (("a", 1), True)
        assert loop.remove_signal_handler(SIGUSR1) is True
        assert loop.remove_signal_handler(SIGUSR1) is False
        assert signal.getsignal(SIGUSR1) == signal.SIG_DFL

    run(main())


def test_signal_wakes_an_idle_loop(run):
    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(SIGUSR1, lambda: got.set_result(loop.time()))
        # Sent from another thread while the loop sleeps with nothing to do.
        sender = threading.Timer(0.1, os.kill, (os.getpid(), SIGUSR1))
        started = loop.time()
        sender.start()
        try:
            woke = await within(got)
        finally:
            sender.join()
        assert woke - started < 2
        loop.remove_signal_handler(SIGUSR1)

    run(main())


def test_several_signals_and_repeats(run):
    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        enough = loop.create_future()

        def handler(name):
            seen.append(name)
            if len(seen) == 4:
                enough.set_result(None)

        loop.add_signal_handler(SIGUSR1, handler, "usr1")
        loop.add_signal_handler(SIGUSR2, handler, "usr2")
        for sig in (SIGUSR1, SIGUSR2, SIGUSR1, SIGUSR2):
            os.kill(os.getpid(), sig)
            await asyncio.sleep(0.01)  # signals of one kind may coalesce
        await within(enough)
        assert seen == ["usr1", "usr2", "usr1", "usr2"]
        assert loop.remove_signal_handler(SIGUSR1) and loop.remove_signal_handler(
            SIGUSR2
        )

    run(main())


def test_adding_again_replaces_the_handler(run):
    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(SIGUSR1, got.set_result, "first")
        loop.add_signal_handler(SIGUSR1, got.set_result, "second")
        os.kill(os.getpid(), SIGUSR1)
        assert await within(got) == "second"
        loop.remove_signal_handler(SIGUSR1)

    run(main())


def test_handler_error_goes_to_exception_handler(run):
    async def main():
        loop = asyncio.get_running_loop()
        contexts = []
        reported = loop.create_future()

        def exception_handler(loop, context):
            contexts.append(context)
            reported.set_result(None)

        def handler():
            raise ZeroDivisionError

        loop.set_exception_handler(exception_handler)
        loop.add_signal_handler(SIGUSR1, handler)
        os.kill(os.getpid(), SIGUSR1)
        await within(reported)
        assert isinstance(contexts[0]["exception"], ZeroDivisionError)
        loop.remove_signal_handler(SIGUSR1)

    run(main())


def test_sigint_handler_and_its_removal(run):
    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGINT, got.set_result, "sigint")
        # (guard: never send SIGINT unless our handler is the one installed)
        assert signal.getsignal(signal.SIGINT) not in (
            signal.default_int_handler, signal.SIG_DFL, signal.SIG_IGN,
        )  # fmt: skip
        os.kill(os.getpid(), signal.SIGINT)
        assert await within(got) == "sigint"
        assert loop.remove_signal_handler(signal.SIGINT) is True
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    run(main())


def test_closing_the_loop_removes_its_handlers(run):
    async def main():
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(SIGUSR1, lambda: None)
        assert signal.getsignal(SIGUSR1) != signal.SIG_DFL
        return loop

    loop = run(main())
    assert loop.is_closed()
    assert signal.getsignal(SIGUSR1) == signal.SIG_DFL
    with pytest.raises(RuntimeError, match="closed"):
        loop.add_signal_handler(SIGUSR1, lambda: None)


def test_not_in_main_thread(run):
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(RuntimeError):
            await asyncio.to_thread(loop.add_signal_handler, SIGUSR1, lambda: None)
        assert loop.remove_signal_handler(SIGUSR1) is False
        assert signal.getsignal(SIGUSR1) == signal.SIG_DFL

    run(main())


@pytest.mark.parametrize("sig", [0, 1000, -1])
def test_invalid_signal_number(run, sig):
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(ValueError):
            loop.add_signal_handler(sig, lambda: None)
        with pytest.raises(ValueError):
            loop.remove_signal_handler(sig)

    run(main())


def test_signal_must_be_an_int(run):
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(TypeError):
            loop.add_signal_handler("SIGUSR1", lambda: None)

    run(main())


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP])
def test_uncatchable_signal(run, sig):
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(RuntimeError, match="cannot be caught"):
            loop.add_signal_handler(sig, lambda: None)
        assert loop.remove_signal_handler(sig) is False

    run(main())


def test_coroutine_callback_is_refused(run):
    async def main():
        loop = asyncio.get_running_loop()

        async def handler():
            pass

        with pytest.raises(TypeError, match="coroutine"):
            loop.add_signal_handler(SIGUSR1, handler)
        coro = handler()
        try:
            with pytest.raises(TypeError, match="coroutine"):
                loop.add_signal_handler(SIGUSR1, coro)
        finally:
            coro.close()
        assert signal.getsignal(SIGUSR1) == signal.SIG_DFL

    run(main())


def test_signal_plumbing(run, flavour):
    """The one designed difference: which Python-level handler is installed."""

    async def main():
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(SIGUSR1, lambda: None)
        try:
            return loop, signal.getsignal(SIGUSR1)
        finally:
            loop.remove_signal_handler(SIGUSR1)

    loop, installed = run(main())
    if flavour == "asyncio":
        # asyncio: a no-op handler; the wakeup fd (its self-pipe) carries the signal.
        assert installed is asyncio.unix_events._sighandler_noop
    else:
        # trioloop: Trio owns the wakeup fd, so a real handler schedules the callback.
        assert getattr(installed, "__self__", None) is loop
