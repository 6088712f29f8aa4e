"""The driver: the Trio task that runs an asyncio loop's iterations.

Design
------
The loop's ``_run_once`` (asyncio's steps in asyncio's order, written out in
``_loop``) does everything one iteration needs: it drops cancelled timers,
polls the selector, moves due timers to the ready deque, and runs the ready
callbacks (with debug-mode slow-callback logging).  The only thing asyncio's
version does that a Trio task must not do is *block* in
``selector.select(timeout)``.

So the loop is given a :class:`ParkingSelector`: an ordinary epoll selector
whose ``select`` never blocks.  When ``_run_once`` asks it to wait, it polls
once without waiting and, if nothing is ready, records how long the loop
wanted to sleep.  The driver then *parks* in Trio for that long, waiting for
the selector's own file descriptor to become readable (any asyncio fd ready)
or for code on the Trio side to wake it (a ``call_soon`` from a Trio task).
The timeout is one cancel scope kept across parks (its deadline moved only
when the earliest asyncio timer changes), and while the driver is the only
Trio task that can run it blocks in place instead of parking (see
``_idle``).  One Trio wake covers any number of ready asyncio fds, and the
loop's self-pipe (how ``call_soon_threadsafe`` wakes asyncio) is one of
them, so every kind of wake-up - another thread, a signal, a Trio task
calling ``call_soon`` while the driver is parked - arrives the same way.

While there is work, the driver runs iterations back to back with no Trio
round-trip per callback (batches, not hops), and yields to Trio at least every
``YIELD_INTERVAL`` seconds so Trio tasks are never starved by a busy asyncio
side.  Trio's own scheduler is fair, so the reverse holds too.

Alternatives rejected: one Trio ``wait_readable`` per asyncio fd (a Trio
round-trip per fd per readiness, ``BusyResourceError`` when Trio code waits on
the same fd, and asyncio's level-triggered semantics to re-create), and
routing each callback through a Trio channel (a task switch per callback).

Around every batch the driver makes the thread look like asyncio's: the
running loop is this loop (Python 3.14 keeps it in C thread state and refuses
to step a task otherwise), ``sniffio`` says ``"asyncio"``, and Trio's current
task is a guard that makes mistaken Trio calls fail clearly (see
``_flavour``); all three are restored before control goes back to Trio.
"""

from __future__ import annotations

import logging
import math
import select
import selectors
import time
from asyncio import events
from typing import TYPE_CHECKING, Any

import sniffio
import trio

from ._flavour import NotATrioTask, trio_run_context
from ._idle import IdleBlocker

if TYPE_CHECKING:
    from ._loop import TrioEventLoop

__all__ = ["ParkingSelector", "drive", "YIELD_INTERVAL"]

#: Longest stretch of asyncio work between two Trio checkpoints, in seconds.
YIELD_INTERVAL = 0.002

_NOT_PARKING = -1.0
_TRIO_TURN = -2.0
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_NOT_IN = ~select.EPOLLIN
_NOT_OUT = ~select.EPOLLOUT

logger = logging.getLogger("trioloop")

_get_running_loop = events._get_running_loop
_set_running_loop = events._set_running_loop
_sniffio_state = sniffio.thread_local


class ParkingSelector(selectors.EpollSelector):
    """An epoll selector whose ``select`` never blocks in Trio's way.

    When the loop asks it to wait and nothing is ready, it blocks in place
    if its ``blocker`` allows (Trio has nothing else to run, see ``_idle``);
    otherwise it records the wish in ``park_for`` for the driver.
    ``select`` is written out rather than delegating to the base class: it
    runs once per loop iteration, and the extra frame was measurable.
    """

    if TYPE_CHECKING:  # EpollSelector internals (typeshed leaves them out)
        _fd_to_key: dict[int, selectors.SelectorKey]
        _selector: select.epoll

    def __init__(self) -> None:
        super().__init__()
        #: Seconds the loop asked to sleep (``math.inf`` for "until woken"),
        #: ``_NOT_PARKING`` when the last iteration found work, or
        #: ``_TRIO_TURN`` when a block in place ended because Trio has work.
        self.park_for = _NOT_PARKING
        #: The driver's batch ends at this ``perf_counter()`` time; a block
        #: in place starts a new batch.
        self.batch_end = 0.0
        #: Set by the driver while its Trio run allows blocking in place.
        self.blocker: IdleBlocker | None = None
        #: True while the driver runs a batch: asyncio code is running (the
        #: loop's ``create_future`` reads it, cheaper than ``sniffio``).
        self.in_batch = False

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        fd_to_key = self._fd_to_key
        try:
            fd_events = self._selector.poll(0, max(len(fd_to_key), 1))
        except InterruptedError:
            fd_events = []
        ready = []
        for fd, event in fd_events:
            key = fd_to_key.get(fd)
            if key is not None:
                mask = (_WRITE if event & _NOT_IN else 0) | (
                    _READ if event & _NOT_OUT else 0
                )
                ready.append((key, mask & key.events))
        if ready or (timeout is not None and timeout <= 0):
            self.park_for = _NOT_PARKING
            return ready
        if timeout is not None:
            # Rounded up to epoll's milliseconds, as EpollSelector does (and
            # rejecting a NaN the same way).
            timeout = math.ceil(timeout * 1e3) * 1e-3
        blocker = self.blocker
        if blocker is not None:
            woken_for_trio = blocker.block(timeout)
            if woken_for_trio is not None:
                self.batch_end = time.perf_counter() + YIELD_INTERVAL
                if woken_for_trio:
                    self.park_for = _TRIO_TURN
                    return []
                return self.select(0)  # what woke it, without blocking
        self.park_for = math.inf if timeout is None else timeout
        return []


@trio.lowlevel.enable_ki_protection
async def drive(loop: TrioEventLoop, *, until_stopped: bool) -> None:
    """Run ``loop``'s iterations until cancelled (or until ``loop.stop()``).

    With ``until_stopped`` (sync mode) a ``loop.stop()`` ends the drive, as it
    ends ``run_forever``.  Without it (hosted mode) the drive only ends when
    its Trio task is cancelled, and a stray ``stop()`` is ignored.
    Exceptions that escape ``_run_once`` (``KeyboardInterrupt``,
    ``SystemExit``, failures of the loop machinery) propagate to Trio.

    The driver is protected from Trio's Ctrl+C handler: a ``KeyboardInterrupt``
    raised at a random point of a batch could drop a ready callback (one
    popped but not yet run) and leave a waiter hanging forever.  Trio instead
    delivers it to its main task at a checkpoint; a main task waiting on
    asyncio code through ``aio_as_trio`` then cancels that code and raises
    ``KeyboardInterrupt`` once it has finished.
    """
    selector: ParkingSelector = loop._selector
    blocker = IdleBlocker.start(selector.fileno())
    if isinstance(blocker, str):
        if loop.get_debug():
            logger.debug("%r parks in Trio on every wait: %s", loop, blocker)
    else:
        selector.blocker = blocker
    try:
        await _drive(loop, until_stopped)
    finally:
        if selector.blocker is not None:
            selector.blocker.close()
            selector.blocker = None


@trio.lowlevel.enable_ki_protection
async def _drive(loop: TrioEventLoop, until_stopped: bool) -> None:
    selector: ParkingSelector = loop._selector
    run_once = loop._run_once
    perf_counter = time.perf_counter
    checkpoint = trio.lowlevel.checkpoint
    driver_task = trio.lowlevel.current_task()
    # Without Trio's run context (another Trio version) there is no guard:
    # the batch runs with Trio's current task left as it is.
    run_context = trio_run_context if hasattr(trio_run_context, "task") else _NoGuard()
    # Hosted, asyncio code sees a guard as Trio's current task; in sync mode
    # none at all, as under stock asyncio (see _flavour).
    guard = None if until_stopped else NotATrioTask(driver_task)
    while True:
        # One cancel scope serves as the asyncio timer's alarm for as many
        # parks as it can: its deadline is moved only when the earliest timer
        # changes, and the scope is replaced only once it has gone off.  (A
        # fresh scope per park cost more than the rest of the park.)
        with trio.CancelScope() as alarm:
            alarm_for = None  # the asyncio time the alarm's deadline is for
            while True:
                # One batch: iterations back to back until the loop wants to
                # sleep, stops, or has held the thread for YIELD_INTERVAL.
                # The flavour switch is inlined (not
                # _flavour.asyncio_flavour) to keep it cheap.
                selector.batch_end = perf_counter() + YIELD_INTERVAL
                prev_loop = _get_running_loop()
                prev_library = _sniffio_state.name
                _set_running_loop(loop)
                _sniffio_state.name = "asyncio"
                if guard is None:
                    del run_context.task
                else:
                    run_context.task = guard
                selector.in_batch = True
                try:
                    while True:
                        run_once()
                        if (
                            loop._stopping
                            or selector.park_for != _NOT_PARKING
                            or perf_counter() > selector.batch_end
                        ):
                            break
                finally:
                    selector.in_batch = False
                    run_context.task = driver_task
                    _sniffio_state.name = prev_library
                    _set_running_loop(prev_loop)
                if loop._stopping:
                    if until_stopped:
                        return
                    loop._stopping = False
                if selector.park_for < 0 or loop._ready:
                    # Work found, or Trio's turn after a block in place.
                    # (Work can be ready although the poll found none: a
                    # timer that came due as the iteration ran.)
                    selector.park_for = _NOT_PARKING
                    await checkpoint()
                    continue
                if loop._trio.checkpoints:
                    # A trio_as_aio call was handed to Trio: give it a step
                    # or two (Trio may run us first in its next batch)
                    # before parking.
                    loop._trio.checkpoints -= 1
                    selector.park_for = _NOT_PARKING
                    await checkpoint()
                    continue
                scheduled: list[Any] = loop._scheduled
                wake_at = scheduled[0]._when if scheduled else None
                if wake_at != alarm_for:
                    if wake_at is None:
                        alarm.deadline = math.inf
                    else:  # max(): a NaN time (asyncio accepts it) is due now
                        alarm.deadline = trio.current_time() + max(
                            0.0,
                            wake_at - loop.time(),  # type: ignore[misc]
                        )
                    alarm_for = wake_at
                await _park(loop, selector)


class _NoGuard:
    """Where Trio's run context cannot be reached: a ``task`` slot that
    nobody reads, so the batch's guard swaps touch nothing of Trio's."""

    __slots__ = ("task",)

    def __init__(self) -> None:
        self.task: Any = None


async def _park(loop: TrioEventLoop, selector: ParkingSelector) -> None:
    """Sleep in Trio until an asyncio fd is ready (or the caller's alarm
    scope goes off: the next asyncio timer is due).

    Work added from outside a batch (a ``call_soon`` from a Trio task, a
    thread, a signal handler) wakes the driver through the loop's self-pipe,
    which is one of the selector's fds: cheaper than cancelling a scope.
    """
    loop._parked = True
    try:
        await trio.lowlevel.wait_readable(selector.fileno())
    finally:
        loop._parked = False
        selector.park_for = _NOT_PARKING
