"""``TrioExecutor``: run an asyncio loop's executor jobs in Trio's threads.

``loop.run_in_executor`` normally hands jobs to a ``ThreadPoolExecutor``
whose threads Trio knows nothing about.  A ``TrioExecutor`` runs each job
through ``trio.to_thread.run_sync`` in a Trio task of the loop's nursery, so
the jobs share Trio's thread cache and a ``trio.CapacityLimiter`` with the
Trio side of the program (say, one limiter for every blocking database call,
whichever side makes it).

It is a ``ThreadPoolExecutor`` subclass only because asyncio's
``set_default_executor`` accepts nothing else; none of the pool's own
threads is ever started.  Jobs are submitted from asyncio code running on a
trioloop loop (which is where ``run_in_executor`` calls ``submit``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from ._loop import TrioEventLoop

__all__ = ["TrioExecutor"]

T = TypeVar("T")


class TrioExecutor(concurrent.futures.ThreadPoolExecutor):
    """An executor whose jobs run in Trio worker threads.

    ``limiter`` (a ``trio.CapacityLimiter``) bounds how many jobs run at once;
    without it, ``max_workers`` makes a limiter of that size, and without
    either Trio's default thread limiter applies.

    A job that has not started when its asyncio future is cancelled never
    runs; one that runs cannot be interrupted (it is a thread), so it ends
    before the loop's ``open_loop`` block does.
    """

    def __init__(
        self,
        limiter: trio.CapacityLimiter | None = None,
        *,
        max_workers: int | None = None,
    ) -> None:
        super().__init__(max_workers=1)
        if limiter is None and max_workers is not None:
            limiter = trio.CapacityLimiter(max_workers)
        self.limiter = limiter
        self._is_shut_down = False
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._pending_lock = threading.Lock()

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        if self._is_shut_down:
            raise RuntimeError("cannot schedule new futures after shutdown")
        loop = asyncio.get_running_loop()
        nursery = loop._trio.nursery if isinstance(loop, TrioEventLoop) else None
        if nursery is None:
            raise RuntimeError(
                "TrioExecutor.submit() needs asyncio code running on a trioloop "
                f"loop (this is {type(loop).__name__}): its jobs run in that "
                "loop's Trio run"
            )
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        nursery.start_soon(self._run, future, fn, args, kwargs)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    async def _run(
        self,
        future: concurrent.futures.Future[T],
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return  # cancelled before it started
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # the future carries it, as in a pool
                future.set_exception(exc)
            else:
                future.set_result(result)

        # Shielded: the job's future must end, and a thread cannot be
        # interrupted anyway (to_thread waits for it).
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(job, limiter=self.limiter)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new jobs; with ``cancel_futures`` drop those not started;
        with ``wait`` block until the others are done.

        Waiting from inside the Trio run whose threads run the jobs would
        block the run that starts them, so that raises ``RuntimeError`` if a
        job has not started yet (``await loop.shutdown_default_executor()``
        waits without blocking).
        """
        self._is_shut_down = True
        with self._pending_lock:
            pending = list(self._pending)
        if cancel_futures:
            for future in pending:
                future.cancel()
        if not wait:
            return
        if trio.lowlevel.in_trio_run() and any(
            not future.running() and not future.done() for future in pending
        ):
            raise RuntimeError(
                "TrioExecutor.shutdown(wait=True) inside the Trio run that starts "
                "its jobs would wait forever: use shutdown(wait=False), or "
                "await loop.shutdown_default_executor()"
            )
        concurrent.futures.wait(pending)
