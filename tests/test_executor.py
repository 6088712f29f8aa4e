"""Executors and the resolver: ``run_in_executor``, ``set_default_executor``,
``to_thread``, ``getaddrinfo``/``getnameinfo``.  Every test body runs on stock
asyncio and on trioloop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import sys
import threading
import time

import pytest
from _support import within


def test_run_in_executor_default(run):
    async def main():
        loop = asyncio.get_running_loop()
        main_thread = threading.get_ident()
        result, thread = await within(
            loop.run_in_executor(None, lambda x: (x * 2, threading.get_ident()), 21)
        )
        assert result == 42 and thread != main_thread

    run(main())


def test_run_in_executor_exception(run):
    async def main():
        loop = asyncio.get_running_loop()

        def fail():
            raise LookupError("from the executor")

        with pytest.raises(LookupError, match="from the executor"):
            await within(loop.run_in_executor(None, fail))

    run(main())


def test_run_in_executor_many_at_once(run):
    async def main():
        loop = asyncio.get_running_loop()

        def slow(i):
            time.sleep(0.01)
            return i

        results = await within(
            asyncio.gather(*(loop.run_in_executor(None, slow, i) for i in range(40)))
        )
        assert results == list(range(40))

    run(main())


def test_run_in_executor_refuses_coroutine_functions(run):
    async def main():
        loop = asyncio.get_running_loop()

        async def coro_function():
            pass

        with pytest.raises(TypeError, match="coroutines cannot be used"):
            loop.run_in_executor(None, coro_function)

    run(main(), debug=True)  # asyncio checks the callable in debug mode only


def test_cancelled_executor_call_lets_the_thread_finish(run):
    async def main():
        loop = asyncio.get_running_loop()
        release = threading.Event()
        finished = threading.Event()

        def blocking():
            release.wait(10)
            finished.set()

        future = loop.run_in_executor(None, blocking)
        await asyncio.sleep(0.01)
        future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await future
        release.set()
        await within(loop.run_in_executor(None, finished.wait, 10))
        assert finished.is_set()

    run(main())


class InlineExecutor(concurrent.futures.Executor):
    """A custom executor that runs each call at once, in the caller."""

    def __init__(self):
        self.calls = 0

    def submit(self, fn, /, *args, **kwargs):
        self.calls += 1
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 (an executor reports every error)
            future.set_exception(exc)
        return future


def test_run_in_custom_executor(run):
    async def main():
        loop = asyncio.get_running_loop()
        executor = InlineExecutor()
        thread = await within(loop.run_in_executor(executor, threading.get_ident))
        assert thread == threading.get_ident() and executor.calls == 1

    run(main())


class NamedThreadPool(concurrent.futures.ThreadPoolExecutor):
    """A ThreadPoolExecutor subclass that counts what it was given."""

    def __init__(self):
        super().__init__(max_workers=2, thread_name_prefix="trioloop-custom")
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_set_default_executor(run):
    async def main():
        loop = asyncio.get_running_loop()
        executor = NamedThreadPool()
        loop.set_default_executor(executor)
        name = await within(
            loop.run_in_executor(None, lambda: threading.current_thread().name)
        )
        assert name.startswith("trioloop-custom")
        assert await within(asyncio.to_thread(lambda: 7)) == 7
        assert executor.submitted == 2
        return executor

    executor = run(main())
    # Closing the run shut the default executor down: no thread is left.
    with pytest.raises(RuntimeError):
        executor.submit(print)


@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="before 3.11 set_default_executor only warns about other executors",
)
def test_set_default_executor_wants_a_thread_pool(run):
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(TypeError):
            loop.set_default_executor(InlineExecutor())

    run(main())


def test_to_thread_passes_context(run):
    async def main():
        import contextvars

        var = contextvars.ContextVar("var")
        var.set("from the task")
        assert await within(asyncio.to_thread(var.get)) == "from the task"

    run(main())


def test_shutdown_default_executor_then_run_again(run):
    async def main():
        loop = asyncio.get_running_loop()
        assert await within(loop.run_in_executor(None, lambda: 1)) == 1
        await within(loop.shutdown_default_executor())
        with pytest.raises(RuntimeError):
            await loop.run_in_executor(None, lambda: 2)

    run(main())


def test_getaddrinfo_localhost(run):
    async def main():
        loop = asyncio.get_running_loop()
        infos = await within(loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM))
        expected = socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        assert sorted(infos) == sorted(expected)
        # (family and address only: Windows may report protocol 0, not 6)
        assert (socket.AF_INET, ("127.0.0.1", 80)) in {(i[0], i[4]) for i in infos}

        numeric = await within(
            loop.getaddrinfo("127.0.0.1", "80", flags=socket.AI_NUMERICHOST)
        )
        assert {info[4] for info in numeric} == {("127.0.0.1", 80)}
        with pytest.raises(socket.gaierror):
            await within(loop.getaddrinfo("nonexistent.invalid", 80))

    run(main())


def test_getnameinfo_localhost(run):
    async def main():
        loop = asyncio.get_running_loop()
        name = await within(loop.getnameinfo(("127.0.0.1", 80)))
        assert name == socket.getnameinfo(("127.0.0.1", 80), 0)
        numeric = await within(
            loop.getnameinfo(
                ("127.0.0.1", 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
            )
        )
        assert numeric == ("127.0.0.1", "80")

    run(main())


def test_trio_custom_hostname_resolver_answers_for_asyncio_code():
    """Where Trio has a custom resolver installed, asyncio code uses it too."""
    import socket

    import trio

    import trioloop

    asked = []

    class Resolver(trio.abc.HostnameResolver):
        async def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
            asked.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        async def getnameinfo(self, sockaddr, flags):
            asked.append(sockaddr)
            return ("resolved.example", "80")

    async def aio_side():
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo("service.internal", 80, type=socket.SOCK_STREAM)
        name = await loop.getnameinfo(("10.0.0.1", 80))
        return infos[0][4], name

    async def main():
        trio.socket.set_custom_hostname_resolver(Resolver())
        async with trioloop.open_loop():
            return await trioloop.aio_as_trio(aio_side)()

    assert trio.run(main) == (("127.0.0.1", 80), ("resolved.example", "80"))
    assert asked == [b"service.internal", ("10.0.0.1", 80)]  # Trio IDNA-encodes
