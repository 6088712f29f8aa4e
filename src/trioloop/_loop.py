"""``TrioEventLoop``: asyncio's selector loop with Trio as its engine.

The loop inherits asyncio's own selector machinery - transports for TCP,
TLS (through ``sslproto``), UDP, Unix sockets and pipes, the ``sock_*``
coroutines, ``add_reader``/``add_writer`` - so their behaviour is asyncio's
to the letter on every Python version, and their speed is the same code
path's.  What changes is who runs the loop (see ``_driver``): never a
blocking ``select``, always a Trio task that parks in Trio.

It runs in one of two ways:

* hosted, inside ``trio.run`` via :func:`trioloop.open_loop`, where the loop's
  clock is the Trio run's clock (so ``MockClock`` drives asyncio timers);
* sync, where ``run_forever``/``run_until_complete`` start ``trio.run``
  themselves for their duration; timers, fds and callbacks are plain data
  that survive between runs, and each run re-arms its Trio waits.

This class holds what every platform shares; its base class, from
``_unix_events`` or ``_windows_events``, what only one platform has (as
asyncio's own ``unix_events``/``windows_events``), and the driver, which
selector the loop polls and how it parks in Trio (``_driver``).
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import math
import sys
import threading
import time
from asyncio import base_events, events, futures, tasks
from collections.abc import Callable
from contextvars import Context
from typing import TYPE_CHECKING, Any

import outcome
import sniffio
import trio

from . import _asyncgens
from ._driver import DriverSelector, drive, new_selector
from ._flavour import TrioMadeFuture, asyncio_flavour
from ._groups import unwrap_lone_exception
from ._trio_internals import custom_resolver

if sys.platform == "win32":
    from ._windows_events import PlatformEventLoop
else:
    from ._unix_events import PlatformEventLoop

__all__ = ["TrioEventLoop", "new_event_loop"]

_sniffio_state = sniffio.thread_local
#: A NaN timer time (asyncio accepts one) gives a zero timeout up to Python
#: 3.12; from 3.13 the NaN reaches the selector, which rejects it.
_NAN_TIMEOUT_IS_ZERO = sys.version_info < (3, 13)


class _TrioSide:
    """A loop's trioloop state that asyncio's hot paths never read."""

    __slots__ = (
        "hosted",
        "nursery",
        "waiters",
        "workers",
        "checkpoints",
        "child_pidfds",
        "sync_run",
        "broken",
        "strict_failures",
    )

    def __init__(self) -> None:
        #: True while hosted by ``open_loop``; the loop then never runs sync.
        self.hosted = False
        #: Nursery of the current run (sync run or hosting ``open_loop``).
        self.nursery: trio.Nursery | None = None
        #: Trio tasks waiting for futures of this loop (``wait_future``).
        self.waiters: set[trio.lowlevel.Task] = set()
        #: Reusable Trio tasks for ``trio_as_aio`` (``_bridge._Workers``).
        self.workers: Any = None
        #: Trio checkpoints the driver takes before parking, because a
        #: ``trio_as_aio`` call was handed to Trio: one that finishes in its
        #: first step then costs no wake-up (see ``_bridge``).
        self.checkpoints = 0
        #: pidfds of children being watched (replaced, never mutated).
        self.child_pidfds: frozenset[int] = frozenset()
        #: Token of the current sync run (``run_forever``), else None.
        self.sync_run: object | None = None
        #: Why the driver can no longer run this loop, once that happens.
        self.broken: BaseException | None = None
        #: Failed tasks to re-check at block exit (``_strict`` only).
        self.strict_failures: list[asyncio.Task[Any]] = []


class TrioEventLoop(PlatformEventLoop):
    """An asyncio event loop whose iterations run as a Trio task."""

    _selector: DriverSelector

    #: Hosted by ``open_loop``, ``stop()`` is ignored (the loop runs until the
    #: block ends); a subclass may make it pause the loop until then instead
    #: (trio-asyncio's meaning, ``trioloop.compat``).
    stop_pauses_hosted_loop = False

    if TYPE_CHECKING:
        # asyncio internals this class relies on (typeshed leaves them out).
        _debug: bool
        _stopping: bool
        _thread_id: int | None
        _task_factory: Any
        _ready: collections.deque[Any]  # Handle internals: typeshed has none
        _scheduled: list[Any]  # TimerHandle internals likewise
        _clock_resolution: float

        def _check_closed(self) -> None: ...
        def _check_thread(self) -> None: ...
        def _check_callback(self, callback: object, method: str) -> None: ...
        def _call_soon(
            self, callback: Callable[..., object], args: Any, context: Context | None
        ) -> asyncio.Handle: ...
        def _write_to_self(self) -> None: ...
        def _process_events(self, event_list: list[Any]) -> None: ...
        def _set_coroutine_origin_tracking(self, enabled: bool) -> None: ...
        def _add_reader(
            self, fd: int, callback: Callable[..., object], *args: Any
        ) -> None: ...
        def _remove_reader(self, fd: int) -> bool: ...
        def _asyncgen_firstiter_hook(self, agen: Any) -> None: ...
        def _asyncgen_finalizer_hook(self, agen: Any) -> None: ...

    # trioloop's own state.  Past 30 instance attributes CPython stops
    # sharing dict keys between instances, and every attribute lookup in
    # asyncio's hot path got measurably slower (benchmarks/instructions.py);
    # asyncio's loop has 24 (27 on 3.14).  So only what a hot path reads is
    # an attribute of its own, set in __init__ (so lookups specialise); the
    # rest lives in one ``_TrioSide``, and ``time`` is only set when hosted.

    def __init__(self) -> None:
        #: While the driver is parked in Trio waiting for I/O or a timer: how
        #: to wake it from Trio code in this thread (the driver's
        #: ``wake_from_trio``); else None.
        self._parked: Callable[[], object] | None = None
        self._trio = _TrioSide()
        try:
            selector = new_selector()
        except BaseException:
            self._closed = True  # nothing to close (BaseEventLoop.__del__)
            raise
        super().__init__(selector)  # type: ignore[arg-type]

    @property
    def driver(self) -> str:
        """Which driver runs this loop: ``"epoll"`` (Linux's fast path) or
        ``"portable"`` (everywhere else, or forced by ``TRIOLOOP_DRIVER``)."""
        return self._selector.driver

    # -- time and scheduling -------------------------------------------------

    time = time.monotonic  # a builtin: binds no self

    def _set_clock(self, clock: Callable[[], float]) -> None:
        """Use ``clock`` as ``time()``: the hosting Trio run's clock when
        hosted, else ``time.monotonic``.  Bound per instance so the hot path
        (``_run_once`` reads the time every iteration) has no extra frame."""
        self.time = clock  # type: ignore[method-assign,misc]

    def call_soon(  # type: ignore[override]  # typeshed: TypeVarTuple spelling
        self,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.Handle:
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
        # asyncio's _call_soon written in: every task step comes through here.
        handle = events.Handle(callback, args, self, context)
        if handle._source_traceback:  # type: ignore[attr-defined]
            del handle._source_traceback[-1]  # type: ignore[attr-defined]
        self._ready.append(handle)
        if self._parked:
            self._parked()
        return handle

    def call_at(  # type: ignore[override]  # typeshed: TypeVarTuple spelling
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        # Written out like call_soon (not a super() call): every asyncio
        # timeout and sleep comes through here.
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer = events.TimerHandle(when, callback, args, self, context)
        if timer._source_traceback:  # type: ignore[attr-defined]
            del timer._source_traceback[-1]  # type: ignore[attr-defined]
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True  # type: ignore[attr-defined]
        if self._parked:
            self._parked()
        return timer

    def _run_once(self) -> None:
        """One iteration, with ``BaseEventLoop._run_once``'s steps and order.

        Drop cancelled timers, poll the selector, queue the I/O callbacks and
        the due timers, then run what is ready (new work waits for the next
        iteration).  Written out to skip what asyncio's version does on every
        iteration even when there is nothing to do: reading the clock with no
        timer pending (the Trio clock, when hosted, is a Python call) and
        processing an empty event list.
        """
        scheduled = self._scheduled
        if scheduled:
            count = len(scheduled)
            if (
                count > base_events._MIN_SCHEDULED_TIMER_HANDLES  # type: ignore[attr-defined]
                and self._timer_cancelled_count / count
                > base_events._MIN_CANCELLED_TIMER_HANDLES_FRACTION  # type: ignore[attr-defined]
            ):
                scheduled = self._compact_timers()
            else:
                while scheduled and scheduled[0]._cancelled:
                    self._timer_cancelled_count -= 1
                    heapq.heappop(scheduled)._scheduled = False
        ready = self._ready
        if ready or self._stopping:
            timeout: float | None = 0
        elif scheduled:
            timeout = scheduled[0]._when - self.time()  # type: ignore[misc]
            if timeout > base_events.MAXIMUM_SELECT_TIMEOUT:  # type: ignore[attr-defined]
                timeout = base_events.MAXIMUM_SELECT_TIMEOUT  # type: ignore[attr-defined]
            elif timeout < 0 or (_NAN_TIMEOUT_IS_ZERO and timeout != timeout):
                timeout = 0
        else:
            timeout = None
        event_list = self._selector.select(timeout)
        if event_list:
            self._process_events(event_list)
        del event_list  # no cycle through a traceback
        if scheduled:
            now = self.time()  # type: ignore[misc]
            # Strictly later than now even where the clock's resolution is
            # finer than a float's (as Python 3.14 does).
            end_time = now + max(self._clock_resolution, math.ulp(now))
            # "not >=" rather than "<", as asyncio: a NaN time is due.
            while scheduled and not scheduled[0]._when >= end_time:
                timer = heapq.heappop(scheduled)
                timer._scheduled = False
                ready.append(timer)
        if self._debug:
            self._run_ready_debug(len(ready))
            return
        popleft = ready.popleft
        handle: Any
        for _ in range(len(ready)):
            handle = popleft()
            if not handle._cancelled:
                handle._run()
        handle = None  # no cycle through a traceback

    def _compact_timers(self) -> list[Any]:
        """Rebuild the timer heap without its cancelled timers (when they
        are most of it, as asyncio does)."""
        kept = []
        for timer in self._scheduled:
            if timer._cancelled:
                timer._scheduled = False
            else:
                kept.append(timer)
        heapq.heapify(kept)
        self._scheduled = kept
        self._timer_cancelled_count = 0
        return kept

    def _run_ready_debug(self, count: int) -> None:
        """Run ``count`` ready callbacks, logging slow ones (debug mode)."""
        for _ in range(count):
            handle = self._ready.popleft()
            if handle._cancelled:
                continue
            try:
                self._current_handle = handle
                t0 = self.time()  # type: ignore[misc]
                handle._run()
                elapsed = self.time() - t0  # type: ignore[misc]
                if elapsed >= self.slow_callback_duration:
                    base_events.logger.warning(  # type: ignore[attr-defined]
                        "Executing %s took %.3f seconds",
                        base_events._format_handle(handle),  # type: ignore[attr-defined]
                        elapsed,
                    )
            finally:
                self._current_handle = None
        handle = None  # no cycle through a traceback

    def create_future(self) -> asyncio.Future[Any]:
        """As asyncio's; made by Trio code, a future that names
        ``aio_as_trio`` when Trio code awaits it (see ``_flavour``).  The
        driver's batch flag is read first: it spares asyncio code, the hot
        path, the slower thread-local read."""
        selector = self._selector
        if (selector is not None and selector.in_batch) or (
            _sniffio_state.name != "trio"
        ):
            return futures.Future(loop=self)
        return TrioMadeFuture(loop=self)

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        """As asyncio's; called from Trio code, a task that starts eagerly
        (eager task factory, ``eager_start=True``) takes its first step as
        asyncio code: running loop set, ``sniffio`` saying asyncio."""
        if self._task_factory is None and _sniffio_state.name == "asyncio":
            # The common case, written out: asyncio code creating a task.
            self._check_closed()
            # tasks.Task looked up per call, as asyncio does (tests swap it).
            task = tasks.Task(coro, loop=self, **kwargs)
            if task._source_traceback:  # type: ignore[attr-defined]
                del task._source_traceback[-1]  # type: ignore[attr-defined]
            try:
                return task
            finally:
                del task  # an eager task's traceback may hold this frame
        if _sniffio_state.name == "asyncio":
            task = super().create_task(coro, **kwargs)
        else:
            with asyncio_flavour(self):
                task = super().create_task(coro, **kwargs)
        if self._task_factory is None and task._source_traceback:  # type: ignore[attr-defined]
            del task._source_traceback[-1]  # type: ignore[attr-defined]
        return task

    def _break(self, error: BaseException) -> None:
        """The driver failed for good: nothing will complete this loop's
        futures, so wake every Trio task waiting for one with an error
        rather than leave it hanging."""
        self._trio.broken = error
        waiters, self._trio.waiters = self._trio.waiters, set()
        for task in waiters:
            failure = RuntimeError(f"the asyncio event loop stopped running: {error!r}")
            failure.__cause__ = error
            trio.lowlevel.reschedule(task, outcome.Error(failure))

    # -- running --------------------------------------------------------------

    def _check_running(self) -> None:
        if self._trio.hosted:
            raise RuntimeError(
                "This event loop is hosted by trioloop.open_loop() and runs for "
                "as long as that block; from Trio code, await asyncio code with "
                "trioloop.aio_as_trio() instead of run_until_complete()"
            )
        asyncio.BaseEventLoop._check_running(self)  # type: ignore[attr-defined]
        if trio.lowlevel.in_trio_run():
            raise RuntimeError(
                "Cannot run an event loop synchronously inside trio.run(); "
                "use 'async with trioloop.open_loop() as loop:' instead"
            )

    def run_forever(self) -> None:
        """Run until ``stop()``, inside a ``trio.run`` started for the purpose."""
        self._check_closed()
        self._check_running()
        hooks = sys.get_asyncgen_hooks()
        try:
            trio.run(self._run_sync)
        finally:
            if self._trio.sync_run is not None:
                self._abandon_run(hooks)

    async def _run_sync(self) -> None:
        self._begin_run()
        events._set_running_loop(self)
        run = self._trio.sync_run = object()
        try:
            with unwrap_lone_exception():
                async with trio.open_nursery() as nursery:
                    self._trio.nursery = nursery
                    try:
                        await drive(self, until_stopped=True)
                    finally:
                        self._close_trio_side(nursery)
        finally:
            if self._trio.sync_run is run:  # else _abandon_run did this already
                self._trio.sync_run = None
                self._trio.nursery = None
                events._set_running_loop(None)
                self._end_run()

    @property
    def idle_blocking(self) -> bool:
        """Whether the running driver blocks in place while Trio is idle
        (the fast path of docs/design.rst): False when the loop is not
        running, or when this Trio run rules it out - in debug mode the
        reason is logged (logger ``trioloop``) as the driver starts."""
        selector = self._selector  # None once the loop is closed
        return selector is not None and selector.idle_blocking

    def _close_trio_side(self, nursery: trio.Nursery) -> None:
        """End the run's Trio tasks: the ``trio_as_aio`` workers first (their
        shielded scopes keep the nursery's cancel out), then the nursery."""
        if self._trio.workers is not None:
            self._trio.workers.close()
        nursery.cancel_scope.cancel()

    def _abandon_run(self, hooks: Any) -> None:
        """Undo ``_run_sync``'s set-up after ``trio.run`` left without it.

        An exception raised by a signal handler while Trio waits for I/O (say
        ``SystemExit`` from a SIGTERM handler, or a test timeout's SIGALRM)
        leaves ``trio.run`` directly and abandons its tasks: ``_run_sync``'s
        ``finally`` has not run, and the loop would stay "running" for good.
        asyncio's ``run_forever`` leaves the loop stopped in that case; so do
        we.  The abandoned coroutine is left to the garbage collector, which
        also collects the dead Trio run (closing it here would store the
        exception in that run's task and keep it alive); its ``finally`` then
        sees ``_trio.sync_run`` changed and does nothing.
        """
        self._trio.sync_run = None
        self._trio.nursery = None
        if events._get_running_loop() is self:
            events._set_running_loop(None)
        self._end_run()
        # Trio put back the hooks it found; _end_run, the dead run's.
        sys.set_asyncgen_hooks(*hooks)

    def _begin_run(self) -> None:
        """What run_forever sets up, except the running loop (the caller's
        business: a sync run sets it for the whole run, ``open_loop`` for
        the Trio code of its block)."""
        self._set_coroutine_origin_tracking(self._debug)
        self._thread_id = threading.get_ident()
        _asyncgens.install()

    def _end_run(self) -> None:
        self._stopping = False
        self._thread_id = None
        self._set_coroutine_origin_tracking(False)
        _asyncgens.uninstall()

    # -- name resolution ------------------------------------------------------
    #
    # asyncio resolves in its default executor, and so do we - unless the
    # hosting Trio run has a custom hostname resolver
    # (trio.socket.set_custom_hostname_resolver), which then answers for
    # asyncio code too, through Trio's own getaddrinfo/getnameinfo.

    async def getaddrinfo(
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> Any:
        if custom_resolver() is None:
            return await super().getaddrinfo(
                host, port, family=family, type=type, proto=proto, flags=flags
            )
        from ._bridge import call_trio

        return await call_trio(
            trio.socket.getaddrinfo, host, port, family, type, proto, flags
        )

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> Any:
        if custom_resolver() is None:
            return await super().getnameinfo(sockaddr, flags)
        from ._bridge import call_trio

        return await call_trio(trio.socket.getnameinfo, sockaddr, flags)


def new_event_loop() -> TrioEventLoop:
    """A new loop for synchronous use: ``asyncio.run(main(), loop_factory=...)``."""
    return TrioEventLoop()
