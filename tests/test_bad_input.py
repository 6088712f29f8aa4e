"""Bad input to public loop methods: trioloop answers as stock asyncio does.

Table-driven.  Each case is one bad call - on a closed loop, from the wrong
thread in debug mode, or with arguments of the wrong type or value - made on
a fresh stock asyncio loop (the reference) and on trioloop, sync and hosted.
The observation compared is the exception type the call raises (or that
awaiting its result raises), any warnings, and the exception types handed to
the loop's exception handler afterwards.  After every bad call on a running
loop a good call must still work (callbacks, tasks, timers), so a bad call
can neither hang nor corrupt the loop.  Python versions differ among
themselves; only trioloop vs stock asyncio on the same Python is compared.

Also: running a loop synchronously inside ``trio.run`` and nested runs fail
with a clear ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import trio
from _support import new_stock_loop

import trioloop

pytestmark = pytest.mark.timeout(30)

#: Upper bound for awaiting anything a case returns.
WAIT = 5.0

#: The signals of the signal-handler cases.  Windows has neither SIGUSR1 nor
#: SIGKILL; there asyncio's selector loop has no signal handlers at all, and
#: every such call raises NotImplementedError, whatever the number.
SIGUSR1 = getattr(signal, "SIGUSR1", signal.SIGTERM)
SIGKILL = getattr(signal, "SIGKILL", 9)


def _cb() -> None:
    pass


async def _coro_fn() -> None:
    pass


class Scratch:
    """Resources a case may use; all closed afterwards."""

    def __init__(self) -> None:
        self.coros: list[Any] = []
        self.socks: list[socket.socket] = []
        self.fds: list[int] = []

    def coro(self) -> Any:
        c = _coro_fn()
        self.coros.append(c)
        return c

    def sock(self, *, blocking: bool = False) -> socket.socket:
        s = socket.socket()
        s.setblocking(blocking)
        self.socks.append(s)
        return s

    def closed_sock(self) -> socket.socket:
        s = socket.socket()
        s.close()
        return s

    def pipe_fd(self) -> int:
        r, w = os.pipe()
        self.fds += [r, w]
        return r

    def close(self) -> None:
        for c in self.coros:
            c.close()
        for s in self.socks:
            s.close()
        for fd in self.fds:
            os.close(fd)


def describe(exc: BaseException | None) -> str:
    return "ok" if exc is None else type(exc).__name__


def observe_sync(call: Callable[[], Any]) -> str:
    """What a synchronous bad call does (a coroutine it returns is closed)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except Exception as exc:
            outcome = describe(exc)
        else:
            outcome = "ok"
            if asyncio.iscoroutine(result):
                result.close()
    return outcome + "".join(f" +{w.category.__name__}" for w in caught)


async def observe(call: Callable[[], Any]) -> str:
    """What a bad call does, awaiting its result if it is awaitable."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
            if asyncio.isfuture(result) or asyncio.iscoroutine(result):
                _dispose(await asyncio.wait_for(result, WAIT))
            elif isinstance(result, (asyncio.Handle, asyncio.TimerHandle)):
                await asyncio.sleep(0.01)  # let it run (or fail) now
                result.cancel()
            outcome = "ok"
        except Exception as exc:
            outcome = describe(exc)
    return outcome + "".join(
        f" +{w.category.__name__}" for w in caught if w.category is not ResourceWarning
    )


def _dispose(value: Any) -> None:
    """Close what a call that should have failed created (server, transport)."""
    for item in value if isinstance(value, tuple) else (value,):
        close = getattr(item, "close", None)
        if callable(close) and not inspect.iscoroutinefunction(close):
            close()


async def good_calls_work() -> None:
    """The loop still does ordinary work after a bad call."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.call_soon(fut.set_result, 1)
    assert await asyncio.wait_for(fut, WAIT) == 1
    timer = loop.create_future()
    loop.call_later(0.001, timer.set_result, 2)
    assert await asyncio.wait_for(timer, WAIT) == 2
    assert (
        await asyncio.wait_for(asyncio.ensure_future(asyncio.sleep(0.001, 3)), WAIT)
        == 3
    )


# -- running a case on each loop ------------------------------------------------------------


def run_sync(
    factory: Callable[[], asyncio.AbstractEventLoop], coro: Any, debug: bool
) -> Any:
    loop = factory()
    loop.set_debug(debug)
    try:
        return loop.run_until_complete(coro)
    finally:
        coro.close()  # a no-op unless the loop failed before running it
        for cleanup in (loop.shutdown_asyncgens(), loop.shutdown_default_executor()):
            try:
                loop.run_until_complete(cleanup)
            except Exception:  # the loop is broken: the case already says so
                cleanup.close()
        loop.close()


def run_on(flavour: str, coro: Any, debug: bool) -> Any:
    if flavour == "asyncio":
        return run_sync(new_stock_loop, coro, debug)
    if flavour == "trioloop":
        return run_sync(trioloop.new_event_loop, coro, debug)
    return trioloop.run(coro, debug=debug)


FLAVOURS = ["trioloop", "trioloop-hosted"]

LoopCase = Callable[[asyncio.AbstractEventLoop, Scratch], Any]


def _running_case(case: LoopCase, debug: bool, handled: list[str]) -> Any:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(
            lambda _, ctx: handled.append(describe(ctx.get("exception")))
        )
        scratch = Scratch()
        try:
            outcome = await observe(lambda: case(loop, scratch))
            await good_calls_work()
            await asyncio.sleep(0.02)  # a bad callback fails now, if at all
            return outcome
        finally:
            scratch.close()

    return main()


def on_running_loop(flavour: str, case: LoopCase, debug: bool) -> tuple[str, list[str]]:
    """(the call's outcome, exception types sent to the exception handler);
    if the bad call breaks the loop itself, what the run raised."""
    handled: list[str] = []
    try:
        outcome = run_on(flavour, _running_case(case, debug, handled), debug)
    except Exception as exc:
        outcome = "the run raised " + _with_group(exc)
    return outcome, sorted(handled)


def _with_group(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)
    if inner is None:
        return describe(exc)
    return f"{describe(exc)}[{', '.join(_with_group(e) for e in inner)}]"


# -- 1. on a closed loop --------------------------------------------------------------------

CLOSED: dict[str, LoopCase] = {
    "call_soon": lambda loop, s: loop.call_soon(_cb),
    "call_later": lambda loop, s: loop.call_later(1, _cb),
    "call_at": lambda loop, s: loop.call_at(loop.time() + 1, _cb),
    "call_soon_threadsafe": lambda loop, s: loop.call_soon_threadsafe(_cb),
    "create_task": lambda loop, s: loop.create_task(s.coro()),
    "create_future": lambda loop, s: loop.create_future(),
    "run_until_complete": lambda loop, s: loop.run_until_complete(s.coro()),
    "run_forever": lambda loop, s: loop.run_forever(),
    "run_in_executor": lambda loop, s: loop.run_in_executor(None, _cb),
    "add_reader": lambda loop, s: loop.add_reader(s.pipe_fd(), _cb),
    "remove_reader": lambda loop, s: loop.remove_reader(s.pipe_fd()),
    "add_writer": lambda loop, s: loop.add_writer(s.pipe_fd(), _cb),
    "add_signal_handler": lambda loop, s: loop.add_signal_handler(SIGUSR1, _cb),
    "remove_signal_handler": lambda loop, s: loop.remove_signal_handler(SIGUSR1),
    "set_default_executor": lambda loop, s: loop.set_default_executor(
        concurrent.futures.ThreadPoolExecutor()
    ),
    "sock_recv": lambda loop, s: loop.sock_recv(s.sock(), 1),
    "create_connection": lambda loop, s: loop.create_connection(
        asyncio.Protocol, "127.0.0.1", 1
    ),
    "time": lambda loop, s: loop.time(),
    "close again": lambda loop, s: loop.close(),
    "is_running": lambda loop, s: loop.is_running(),
}


def on_closed_loop(flavour: str, case: LoopCase) -> str:
    loop = new_stock_loop() if flavour == "asyncio" else trioloop.new_event_loop()
    loop.close()
    scratch = Scratch()
    try:
        return observe_sync(lambda: case(loop, scratch))
    finally:
        scratch.close()


@pytest.mark.parametrize("flavour", ["trioloop"])
@pytest.mark.parametrize("name", CLOSED)
def test_closed_loop(name: str, flavour: str) -> None:
    case = CLOSED[name]
    assert on_closed_loop(flavour, case) == on_closed_loop("asyncio", case)


# -- 2. from the wrong thread, in debug mode ---------------------------------------------------

WRONG_THREAD: dict[str, LoopCase] = {
    "call_soon": lambda loop, s: loop.call_soon(_cb),
    "call_later": lambda loop, s: loop.call_later(1, _cb),
    "call_at": lambda loop, s: loop.call_at(loop.time() + 1, _cb),
    "create_task": lambda loop, s: loop.create_task(s.coro()),
    "add_signal_handler": lambda loop, s: loop.add_signal_handler(SIGUSR1, _cb),
    "call_soon_threadsafe (allowed)": lambda loop, s: loop.call_soon_threadsafe(_cb),
}


def _from_thread(case: LoopCase) -> LoopCase:
    def run_in_thread(loop: asyncio.AbstractEventLoop, scratch: Scratch) -> None:
        result: list[str] = []
        thread = threading.Thread(
            target=lambda: result.append(observe_sync(lambda: case(loop, scratch)))
        )
        thread.start()
        thread.join(WAIT)
        assert result, "the call from another thread hung"
        if result[0] != "ok":
            raise _Observed(result[0])

    return run_in_thread


class _Observed(Exception):
    """Carries a thread's observation out as the case's own outcome."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", WRONG_THREAD)
def test_wrong_thread_in_debug_mode(name: str, flavour: str) -> None:
    case = _from_thread(WRONG_THREAD[name])

    def seen(flv: str) -> tuple[str, list[str]]:
        try:
            return on_running_loop(flv, case, debug=True)
        except _Observed as exc:  # pragma: no cover - raised inside observe
            return exc.outcome, []

    got, want = seen(flavour), seen("asyncio")
    assert got == want
    assert want[0] != "ok" or "allowed" in name, (
        "stock asyncio accepted it: the case tests nothing"
    )


# -- 3. wrong argument types and values, running loop ------------------------------------------


async def _agen() -> Any:
    yield 1


BAD_ARGS: dict[str, LoopCase] = {
    "call_soon(non-callable)": lambda loop, s: loop.call_soon(1),  # type: ignore[arg-type]
    "call_soon(coroutine function)": lambda loop, s: loop.call_soon(_coro_fn),
    "call_later(None)": lambda loop, s: loop.call_later(None, _cb),  # type: ignore[arg-type]
    "call_later(str)": lambda loop, s: loop.call_later("1", _cb),  # type: ignore[arg-type]
    "call_later(nan)": lambda loop, s: loop.call_later(math.nan, _cb),
    "call_later(inf)": lambda loop, s: loop.call_later(math.inf, _cb),
    "call_later(-1)": lambda loop, s: loop.call_later(-1, _cb),
    "call_later(1e300)": lambda loop, s: loop.call_later(1e300, _cb),
    "call_at(str)": lambda loop, s: loop.call_at("x", _cb),  # type: ignore[arg-type]
    "create_task(int)": lambda loop, s: loop.create_task(1),  # type: ignore[arg-type]
    "create_task(async generator)": lambda loop, s: loop.create_task(_agen()),  # type: ignore[arg-type]
    "run_in_executor(non-callable)": lambda loop, s: loop.run_in_executor(None, 1),  # type: ignore[arg-type]
    "run_in_executor(bad executor)": lambda loop, s: loop.run_in_executor(1, _cb),  # type: ignore[arg-type]
    "set_default_executor(int)": lambda loop, s: loop.set_default_executor(1),
    "set_default_executor(failing shutdown)": lambda loop, s: loop.set_default_executor(
        BrokenExecutor()
    ),
    "add_reader(-1)": lambda loop, s: loop.add_reader(-1, _cb),
    "add_reader(str)": lambda loop, s: loop.add_reader("x", _cb),  # type: ignore[arg-type]
    "add_reader(closed socket)": lambda loop, s: loop.add_reader(s.closed_sock(), _cb),
    "add_writer(object)": lambda loop, s: loop.add_writer(object(), _cb),  # type: ignore[arg-type]
    "remove_writer(-1)": lambda loop, s: loop.remove_writer(-1),
    "add_signal_handler(SIGKILL)": lambda loop, s: loop.add_signal_handler(
        SIGKILL, _cb
    ),
    "add_signal_handler(0)": lambda loop, s: loop.add_signal_handler(0, _cb),
    "add_signal_handler(99999)": lambda loop, s: loop.add_signal_handler(99999, _cb),
    "add_signal_handler(coroutine fn)": lambda loop, s: loop.add_signal_handler(
        SIGUSR1, _coro_fn
    ),
    "remove_signal_handler(str)": lambda loop, s: loop.remove_signal_handler("x"),  # type: ignore[arg-type]
    "sock_recv(blocking socket)": lambda loop, s: loop.sock_recv(
        s.sock(blocking=True), 1
    ),
    "sock_recv(closed socket)": lambda loop, s: loop.sock_recv(s.closed_sock(), 1),
    "sock_sendall(str)": lambda loop, s: loop.sock_sendall(s.sock(), "text"),  # type: ignore[arg-type]
    "sock_connect(bad address)": lambda loop, s: loop.sock_connect(s.sock(), "nowhere"),
    "sock_accept(unbound)": lambda loop, s: loop.sock_accept(s.sock()),
    "create_connection(no host, no sock)": lambda loop, s: loop.create_connection(
        asyncio.Protocol
    ),
    "create_connection(refused)": lambda loop, s: loop.create_connection(
        asyncio.Protocol, "127.0.0.1", 1
    ),
    "create_connection(host and sock)": lambda loop, s: loop.create_connection(
        asyncio.Protocol, "127.0.0.1", 1, sock=s.sock()
    ),
    "create_connection(port str)": lambda loop, s: loop.create_connection(
        asyncio.Protocol, "127.0.0.1", "x"
    ),
    "create_server(port -1)": lambda loop, s: loop.create_server(
        asyncio.Protocol, "127.0.0.1", -1
    ),
    "create_server(ssl not a context)": lambda loop, s: loop.create_server(
        asyncio.Protocol, "127.0.0.1", 0, ssl=1
    ),
    "create_datagram_endpoint(no address)": lambda loop, s: (
        loop.create_datagram_endpoint(asyncio.DatagramProtocol)
    ),
    "create_unix_connection(missing path)": lambda loop, s: loop.create_unix_connection(
        asyncio.Protocol, "/nonexistent/trioloop.sock"
    ),
    "subprocess_exec(missing program)": lambda loop, s: loop.subprocess_exec(
        asyncio.SubprocessProtocol, "/nonexistent/program"
    ),
    "subprocess_shell(list)": lambda loop, s: loop.subprocess_shell(
        asyncio.SubprocessProtocol, ["ls"]
    ),
    "subprocess_exec(text=True)": lambda loop, s: loop.subprocess_exec(
        asyncio.SubprocessProtocol, sys.executable, "-c", "pass", text=True
    ),
    "connect_read_pipe(socket)": lambda loop, s: loop.connect_read_pipe(
        asyncio.Protocol, s.sock()
    ),
    "getaddrinfo(int host)": lambda loop, s: loop.getaddrinfo(1, None),
    "run_until_complete(while running)": lambda loop, s: loop.run_until_complete(
        s.coro()
    ),
    "run_forever(while running)": lambda loop, s: loop.run_forever(),
    "close(while running)": lambda loop, s: loop.close(),
    "another loop's run_until_complete": lambda loop, s: _other_loop_run(s),
    "set_exception_handler(int)": lambda loop, s: loop.set_exception_handler(1),  # type: ignore[arg-type]
    "set_task_factory(int)": lambda loop, s: loop.set_task_factory(1),  # type: ignore[arg-type]
}


class BrokenExecutor(concurrent.futures.ThreadPoolExecutor):
    """An executor whose shutdown fails: the loop's clean-up must report it."""

    def shutdown(self, wait: bool = True, **kwargs: Any) -> None:
        raise OSError("cannot shut down")


def _other_loop_run(scratch: Scratch) -> Any:
    other = asyncio.new_event_loop()
    try:
        return other.run_until_complete(scratch.coro())
    finally:
        other.close()


#: Bad calls that break the loop itself (stock asyncio's ``run`` raises the
#: error from ``_run_once``): they run in a child process, so that a hang
#: cannot take the test session with it.
ISOLATED = {
    "call_at(str)",
    "call_later(nan)",
    "set_default_executor(int)",
    "set_default_executor(failing shutdown)",
}

#: Known trioloop bugs (docs/reliability.md): (case, flavour) -> (reason,
#: strict).  Remove an entry when fixed; a non-strict one has a fix under way.
KNOWN_BUGS: dict[tuple[str, str], tuple[str, bool]] = {}
# (bugs 4 and 5 of docs/reliability.md were fixed: a failing loop machinery or
# clean-up now ends trioloop.run() with the error itself, as asyncio.run.)


#: Stock asyncio bugs that make the reference meaningless: (case, Python) -> why.
STOCK_BUGS = {
    (
        "run_forever(while running)",
        (3, 13, 0),
    ): "CPython 3.13.0: run_forever() on a running loop breaks that loop",
}

CHILD_LIMIT = 8.0
CHILD = """
import json, sys
sys.path.insert(0, "tests")  # where pytest finds _support
from test_bad_input import BAD_ARGS, on_running_loop
print(json.dumps(on_running_loop(sys.argv[1], BAD_ARGS[sys.argv[2]], sys.argv[3] == "debug")))
"""


def in_child(flavour: str, name: str, debug: bool) -> tuple[str, list[str]]:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    argv = [sys.executable, "-c", CHILD, flavour, name, "debug" if debug else ""]
    try:
        done = subprocess.run(
            argv, cwd=repo, capture_output=True, text=True, timeout=CHILD_LIMIT
        )
    except subprocess.TimeoutExpired:
        return f"HANG (killed after {CHILD_LIMIT} s)", []
    if done.returncode != 0:
        return (
            f"child exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}",
            [],
        )
    outcome, handled = json.loads(done.stdout.strip().splitlines()[-1])
    return outcome, handled


def _bad_arg_params() -> list[Any]:
    params = []
    for name in BAD_ARGS:
        for flavour in FLAVOURS:
            bug = KNOWN_BUGS.get((name, flavour))
            marks = [pytest.mark.xfail(strict=bug[1], reason=bug[0])] if bug else []
            params.append(
                pytest.param(name, flavour, id=f"{name}-{flavour}", marks=marks)
            )
    return params


@pytest.mark.parametrize(("name", "flavour"), _bad_arg_params())
def test_bad_arguments(name: str, flavour: str) -> None:
    """In normal and in debug mode (which checks more, and earlier)."""
    stock_bug = STOCK_BUGS.get((name, sys.version_info[:3]))
    if stock_bug:
        pytest.skip(stock_bug)
    for debug in (False,) if name in ISOLATED else (False, True):
        if name in ISOLATED:
            got, want = in_child(flavour, name, debug), in_child("asyncio", name, debug)
        else:
            case = BAD_ARGS[name]
            got, want = (
                on_running_loop(flavour, case, debug),
                on_running_loop("asyncio", case, debug),
            )
        assert (got, debug) == (want, debug)


# -- 4. running loops inside trio.run, and nested runs ---------------------------------------


def test_run_until_complete_inside_trio_run_is_a_clear_error() -> None:
    async def main() -> None:
        loop = trioloop.new_event_loop()
        coro = _coro_fn()
        try:
            with pytest.raises(RuntimeError, match="open_loop"):
                loop.run_until_complete(coro)
            with pytest.raises(RuntimeError, match="open_loop"):
                loop.run_forever()
        finally:
            coro.close()
            loop.close()

    trio.run(main)


def test_trioloop_run_inside_trio_run_is_a_clear_error() -> None:
    async def main() -> None:
        coro = _coro_fn()
        with pytest.raises(RuntimeError, match="open_loop"):
            trioloop.run(coro)
        coro.close()

    trio.run(main)


def test_run_until_complete_inside_open_loop_is_a_clear_error() -> None:
    async def main() -> None:
        async with trioloop.open_loop() as loop:
            coro = _coro_fn()
            with pytest.raises(RuntimeError, match="aio_as_trio"):
                loop.run_until_complete(coro)
            coro.close()
            assert (
                await trioloop.aio_as_trio(asyncio.sleep)(0, "still fine")
                == "still fine"
            )

    trio.run(main)


NESTED: dict[str, Callable[[Scratch], Any]] = {
    "asyncio.run": lambda s: asyncio.run(s.coro()),
    "trioloop.run": lambda s: trioloop.run(s.coro()),
    "new trioloop's run_until_complete": lambda s: _run_closing(
        trioloop.new_event_loop(), s
    ),
    "new asyncio loop's run_until_complete": lambda s: _run_closing(
        asyncio.new_event_loop(), s
    ),
}


def _run_closing(loop: asyncio.AbstractEventLoop, scratch: Scratch) -> Any:
    try:
        return loop.run_until_complete(scratch.coro())
    finally:
        loop.close()


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", NESTED)
def test_nested_run_is_a_runtime_error(name: str, flavour: str) -> None:
    def seen(flv: str) -> tuple[str, list[str]]:
        return on_running_loop(flv, lambda loop, s: NESTED[name](s), debug=False)

    got, want = seen(flavour), seen("asyncio")
    assert got == want
    assert got[0] == "RuntimeError"
