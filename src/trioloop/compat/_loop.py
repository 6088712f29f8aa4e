"""trio-asyncio's loop, ``open_loop``, ``run`` and loop-method forwarders.

The compat ``TrioEventLoop`` is trioloop's loop with the methods trio-asyncio
users call on it.  Each maps onto trioloop's machinery: ``run_aio_coroutine``
is ``aio_as_trio(coro, loop=loop)``, ``trio_as_future`` an asyncio task
awaiting ``trio_as_aio``, ``run_trio_task`` a Trio task in the loop's nursery.
Where trioloop deliberately differs (no ``queue_len``), the call raises an
error that says so instead of acting otherwise.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import sniffio
import trio

from .. import _hosted
from .._bridge import call_aio, call_trio
from .._bridge import current_loop as innermost_loop
from .._executor import TrioExecutor as _TrioExecutor
from .._loop import TrioEventLoop as _BaseLoop
from .._policy import EventLoopPolicy
from .._running import current_loop_var
from .._strict import fail
from ._adapter import run_aio_future

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "TrioChildWatcher",
    "TrioEventLoop",
    "TrioExecutor",
    "TrioPolicy",
    "TrioTaskHandle",
    "current_loop",
    "open_loop",
    "run",
    "run_aio_coroutine",
    "run_trio",
    "run_trio_task",
]

T = TypeVar("T")


class TrioTaskHandle:
    """What ``run_trio_task`` returns: ``cancel()`` cancels the Trio task (or
    keeps it from doing anything, if it has not started yet)."""

    def __init__(self) -> None:
        self.scope = trio.CancelScope()

    def cancel(self) -> None:
        self.scope.cancel()

    def cancelled(self) -> bool:
        return self.scope.cancel_called


def trio_as_future(
    loop: _BaseLoop, proc: Callable[..., Awaitable[T]], *args: Any
) -> asyncio.Future[T]:
    """Run ``await proc(*args)`` in Trio; its outcome resolves the returned
    future, and cancelling the future cancels the Trio side."""
    return loop.create_task(call_trio(proc, *args, loop=loop))


def start_trio_task(
    loop: _BaseLoop, proc: Callable[..., Awaitable[object]], *args: Any
) -> TrioTaskHandle:
    """Start ``await proc(*args)`` as a Trio task of ``loop``'s nursery now.

    Its failure is the loop's: an ``Exception`` goes to the loop's exception
    handler (which, for the compat loop, fails the ``open_loop`` block), and
    anything else (``SystemExit``, ``KeyboardInterrupt``) propagates out of
    the block in an exception group, as a nursery child's does.
    """
    loop._check_closed()
    nursery = loop._trio.nursery
    if nursery is None:
        raise RuntimeError(f"{loop!r} is not running: no Trio task can start on it")
    handle = TrioTaskHandle()

    async def run_task() -> None:
        try:
            with handle.scope:
                await proc(*args)
        except Exception as exc:  # also an ExceptionGroup
            _report(loop, proc, exc)
        except BaseExceptionGroup as group:
            errors, rest = group.split(Exception)
            if errors is not None:
                _report(loop, proc, errors)
            # Not all Exceptions (those make an ExceptionGroup, caught above).
            assert rest is not None
            raise rest from None
        except trio.Cancelled:
            raise  # the loop's nursery is closing
        except BaseException as exc:  # SystemExit, KeyboardInterrupt
            # Grouped: open_loop unwraps the group its own nursery makes.
            raise BaseExceptionGroup("run_trio_task() failed", [exc]) from None

    nursery.start_soon(run_task)
    return handle


def _report(loop: _BaseLoop, proc: object, exc: BaseException) -> None:
    loop.call_exception_handler(
        {"message": f"Trio task {proc!r} (run_trio_task) failed", "exception": exc}
    )


class TrioEventLoop(_BaseLoop):
    """trioloop's event loop with trio-asyncio's loop methods.

    Three behaviours follow trio-asyncio rather than trioloop: an error that
    reaches the default exception handler while the ``open_loop`` block runs
    is raised in the block (so it cannot go unnoticed); ``stop()`` pauses a
    hosted loop until its block ends; ``autoclose`` closes file descriptors
    with the loop.
    """

    stop_pauses_hosted_loop = True

    def __init__(self) -> None:
        super().__init__()
        self._autoclose: set[int] = set()
        self._stopped = trio.Event()
        #: Set by ``open_loop`` when its block is done (its clean-up begins).
        self._block_done = False

    # -- Trio code waiting for asyncio -------------------------------------------

    async def run_aio_coroutine(self, coro: Awaitable[T]) -> T:
        """Run an asyncio coroutine (or awaitable) on this loop from Trio."""
        return await call_aio(coro, self)

    run_aio_future = staticmethod(run_aio_future)

    async def synchronize(self) -> None:
        """Wait (from Trio) until the callbacks already queued on this loop
        with ``call_soon`` have run."""
        done = trio.Event()
        self.call_soon(done.set)
        await done.wait()

    # -- asyncio code starting Trio code -------------------------------------------

    def trio_as_future(
        self, proc: Callable[..., Awaitable[T]], *args: Any
    ) -> asyncio.Future[T]:
        return trio_as_future(self, proc, *args)

    run_trio = trio_as_future

    def run_trio_task(
        self, proc: Callable[..., Awaitable[object]], *args: Any
    ) -> TrioTaskHandle:
        return start_trio_task(self, proc, *args)

    # -- errors, file descriptors, stopping ----------------------------------------

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        super().default_exception_handler(context)
        nursery = self._trio.nursery
        if nursery is not None and self._trio.hosted and not self._block_done:
            exception = context.get("exception")
            if exception is None:
                exception = RuntimeError(
                    context.get("message") or "unhandled error in event loop"
                )
            nursery.start_soon(fail, exception)

    def autoclose(self, fd: Any) -> None:
        """Close file descriptor ``fd`` (or ``fd.fileno()``) with the loop."""
        self._autoclose.add(fd.fileno() if hasattr(fd, "fileno") else fd)

    def no_autoclose(self, fd: Any) -> None:
        """Undo ``autoclose`` (``KeyError`` if ``fd`` was not marked)."""
        self._autoclose.remove(fd.fileno() if hasattr(fd, "fileno") else fd)

    def close(self) -> None:
        if self._trio.hosted:
            raise RuntimeError(
                "a loop hosted by open_loop() closes when its block ends: leave "
                "the block instead of calling loop.close() in it"
            )
        super().close()
        fds, self._autoclose = self._autoclose, set()
        for fd in fds:
            try:
                os.close(fd)
            except OSError as exc:
                if exc.errno != errno.EBADF:  # closed by its owner already
                    raise
        self._stopped.set()

    def stop(self, waiter: trio.Event | None = None) -> trio.Event | None:  # type: ignore[override]
        """Stop the loop after the current iteration.

        Hosted by ``open_loop``, the loop then runs no callbacks until the
        block ends (its clean-up runs them); the returned ``trio.Event``
        (``waiter``, if given) is set as it stops.  Run with
        ``run_forever``/``run_until_complete``, it is asyncio's ``stop()``.
        """
        if not self._trio.hosted:
            if waiter is not None:
                raise TypeError("stop(waiter) is for loops hosted by open_loop()")
            super().stop()
            return None
        stopped = self._stopped if waiter is None else waiter
        if self._stopped.is_set():  # stopped already
            stopped.set()
            return stopped
        super().stop()
        if sniffio.thread_local.name == "asyncio":
            # From a callback: the loop stops once this iteration is done,
            # before the Trio side runs again.
            self._set_stopped(stopped)
        else:
            # From Trio code: after the callbacks queued so far (the next
            # iteration, the last).
            self.call_soon(self._set_stopped, stopped)
        return stopped

    def _set_stopped(self, waiter: trio.Event) -> None:
        self._stopped.set()
        waiter.set()

    async def wait_stopped(self) -> None:
        """Wait (from Trio) until the loop is stopped (``stop()``) or closed."""
        await self._stopped.wait()


class _CurrentLoop:
    """trio-asyncio's ``current_loop`` (a context variable there): ``get()``
    gives the loop of the innermost ``open_loop`` around the caller, or
    ``None`` (trioloop's own spelling: ``trioloop.current_loop()``)."""

    def get(self) -> _BaseLoop | None:
        return current_loop_var.get()

    def __repr__(self) -> str:
        return "<trioloop.compat.current_loop>"


current_loop = _CurrentLoop()


@asynccontextmanager
async def open_loop(queue_len: int | None = None) -> AsyncIterator[TrioEventLoop]:
    """trio-asyncio's ``open_loop``: a compat ``TrioEventLoop`` hosted for the
    block (see ``trioloop.open_loop``).  ``queue_len`` (a cap on queued
    callbacks) is not supported: asyncio's queue is unbounded."""
    if queue_len is not None:
        raise TypeError(
            "open_loop(queue_len=...) is not supported: trioloop's loop is "
            "asyncio's own, whose callback queue has no limit"
        )
    async with _hosted.open_loop(loop_factory=TrioEventLoop) as loop:
        assert isinstance(loop, TrioEventLoop)
        try:
            yield loop
        finally:
            # Errors in the clean-up are logged, not raised (as asyncio.run).
            loop._block_done = True


def run(
    proc: Callable[..., Awaitable[T]],
    *args: Any,
    queue_len: int | None = None,
    **trio_run_options: Any,
) -> T:
    """``trio.run(proc, *args)`` with an ``open_loop`` block around ``proc``
    (unlike ``trioloop.run``, which runs an *asyncio* coroutine)."""

    async def main() -> T:
        async with open_loop(queue_len=queue_len):
            return await proc(*args)

    return trio.run(main, **trio_run_options)


async def run_aio_coroutine(coro: Awaitable[T]) -> T:
    """``run_aio_coroutine`` of the innermost loop."""
    return await call_aio(coro)


def run_trio(proc: Callable[..., Awaitable[T]], *args: Any) -> asyncio.Future[T]:
    """``trio_as_future`` of the innermost loop."""
    return trio_as_future(innermost_loop(), proc, *args)


def run_trio_task(proc: Callable[..., Awaitable[object]], *args: Any) -> None:
    """``run_trio_task`` of the innermost loop (the handle is dropped)."""
    start_trio_task(innermost_loop(), proc, *args)


class TrioExecutor(_TrioExecutor):
    """``trioloop.TrioExecutor`` with trio-asyncio's signature, whose
    ``thread_name_prefix`` was unused there too (Trio names its threads)."""

    def __init__(
        self,
        limiter: trio.CapacityLimiter | None = None,
        thread_name_prefix: str | None = None,
        max_workers: int | None = None,
    ) -> None:
        super().__init__(limiter, max_workers=max_workers)


#: trio-asyncio's policy: trioloop's (installed only by ``trioloop.install()``;
#: importing trioloop.compat changes no global state).
TrioPolicy = EventLoopPolicy


class TrioChildWatcher:
    """trio-asyncio's child watcher, kept as a name only: trioloop watches
    subprocesses through asyncio's own machinery and needs no watcher."""

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass

    def add_child_handler(
        self, pid: int, callback: Callable[..., object], *args: Any
    ) -> None:
        raise NotImplementedError(
            "trioloop needs no child watcher: start subprocesses with "
            "asyncio.create_subprocess_exec/loop.subprocess_exec"
        )

    def remove_child_handler(self, pid: int) -> bool:
        return False

    def close(self) -> None:
        pass

    def is_active(self) -> bool:
        return True

    def __enter__(self) -> TrioChildWatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass
