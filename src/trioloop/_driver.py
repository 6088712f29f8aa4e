"""The driver: the Trio task that runs an asyncio loop's iterations.

Design
------
The loop's ``_run_once`` (asyncio's steps in asyncio's order, written out in
``_loop``) does everything one iteration needs: it drops cancelled timers,
polls the selector, moves due timers to the ready deque, and runs the ready
callbacks (with debug-mode slow-callback logging).  The only thing asyncio's
version does that a Trio task must not do is *block* in
``selector.select(timeout)``.

So the loop is given a selector whose ``select`` never blocks: when
``_run_once`` asks it to wait, it polls once without waiting and, if nothing
is ready, records how long the loop wanted to sleep.  The driver then
*parks* in Trio for that long, in the selector's ``park``, until an asyncio
fd may be ready or code on the Trio side wakes it (a ``call_soon`` from a
Trio task).  The timeout is one cancel scope kept across parks (its
deadline moved only when the earliest asyncio timer changes).

How a selector parks is its driver's business, behind one small interface
(:class:`DriverSelector`, as Trio's I/O managers share one): the epoll
driver (``_driver_epoll``) parks on the selector's own epoll fd, one Trio
wake for any number of ready fds, and blocks in place while Trio is idle;
the portable driver (``_driver_portable``) has a Trio watcher per
registered fd.  ``new_selector`` picks one (``TRIOLOOP_DRIVER``); the drive
loop never asks which it has.

While there is work, the driver runs iterations back to back with no Trio
round-trip per callback (batches, not hops), and yields to Trio at least every
``YIELD_INTERVAL`` seconds so Trio tasks are never starved by a busy asyncio
side.  Trio's own scheduler is fair, so the reverse holds too.

Alternative rejected: routing each callback through a Trio channel or task
(a task switch per callback).

Around every batch the driver makes the thread look like asyncio's: the
running loop is this loop (Python 3.14 keeps it in C thread state and refuses
to step a task otherwise), ``sniffio`` says ``"asyncio"``, and Trio's current
task is, hosted, a guard that makes mistaken Trio calls fail clearly, or, in
sync mode, unset as under stock asyncio (see ``_flavour``); all three are
restored before control goes back to Trio.
"""

from __future__ import annotations

import math
import os
import select
import selectors
import time
from asyncio import events
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import sniffio
import trio

from ._flavour import NotATrioTask, trio_run_context
from ._trio_internals import io_manager_is_epoll

if TYPE_CHECKING:
    from ._loop import TrioEventLoop

__all__ = [
    "DRIVERS",
    "Drive",
    "DriverSelector",
    "NOT_PARKING",
    "TRIO_TURN",
    "YIELD_INTERVAL",
    "drive",
    "new_selector",
]

#: Longest stretch of asyncio work between two Trio checkpoints, in seconds.
YIELD_INTERVAL = 0.002
#: ``DriverSelector.park_for`` when the last iteration found work.
NOT_PARKING = -1.0
#: ``DriverSelector.park_for`` when a block in place ended because Trio has
#: work (the epoll driver only).
TRIO_TURN = -2.0
#: The values of ``TRIOLOOP_DRIVER``.
DRIVERS = ("auto", "epoll", "portable")


class DriverSelector(Protocol):
    """What the drive loop needs of a driver: the loop's selector, which
    knows how to park in Trio.  Each driver module provides one
    (``_driver_epoll.ParkingSelector``, ``_driver_portable.PortableSelector``);
    the drive loop never asks which it has."""

    #: The driver's name, shown as ``TrioEventLoop.driver``.
    driver: str
    #: Seconds the loop asked to sleep in its last ``select`` (``math.inf``:
    #: until woken), ``NOT_PARKING`` when it found work, or ``TRIO_TURN``.
    park_for: float
    #: The ``perf_counter()`` time the driver's current batch ends.
    batch_end: float
    #: True while the driver runs a batch: asyncio code is running (the
    #: loop's ``create_future`` reads it, cheaper than ``sniffio``).
    in_batch: bool

    @property
    def idle_blocking(self) -> bool:
        """Whether the driver may block in place while Trio is idle."""

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]: ...

    def driving(self, loop: TrioEventLoop) -> AbstractAsyncContextManager[None]:
        """Whatever the driver holds while a drive of ``loop`` lasts."""

    async def park(self, drive: Drive) -> None:
        """Sleep in Trio until an asyncio fd may be ready; the caller's
        cancel scope ends it when the next asyncio timer is due.  A driver
        whose wake-ups land in another Trio task may run the loop there
        (``drive.batch_here``) and sleep on."""

    def wake_from_trio(self, loop: TrioEventLoop) -> Callable[[], object]:
        """How Trio code in the loop's thread wakes the parked driver (a
        ``call_soon`` from a Trio task); other threads write to the loop's
        self-pipe."""


def new_selector() -> DriverSelector:
    """The selector of a new loop, from the driver ``TRIOLOOP_DRIVER`` names
    (``auto``, the default: epoll where it applies, else portable)."""
    choice = os.environ.get("TRIOLOOP_DRIVER", "") or "auto"
    if choice not in DRIVERS:
        raise ValueError(
            f"TRIOLOOP_DRIVER={choice!r}: expected one of {', '.join(DRIVERS)}"
        )
    if choice != "portable":
        why_not = _why_not_epoll()
        if why_not is None:
            from ._driver_epoll import ParkingSelector

            return ParkingSelector()
        if choice == "epoll":
            raise RuntimeError(f"TRIOLOOP_DRIVER=epoll, but {why_not}")
    from ._driver_portable import PortableSelector

    return PortableSelector()


def _why_not_epoll() -> str | None:
    """Why the epoll driver cannot run here, or None if it can."""
    if not hasattr(select, "epoll") or not hasattr(selectors, "EpollSelector"):
        return "asyncio's selectors have no epoll on this platform"
    default: object = selectors.DefaultSelector  # looked up now: tests swap it
    if default is not selectors.EpollSelector:
        return "asyncio's default selector is not epoll here"
    if not io_manager_is_epoll():
        # The epoll driver parks on an epoll fd inside Trio's own epoll.
        return "Trio's I/O manager is not epoll on this platform"
    return None


_get_running_loop = events._get_running_loop
_set_running_loop = events._set_running_loop
_sniffio_state = sniffio.thread_local


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
    async with loop._selector.driving(loop):
        await Drive(loop, until_stopped).run()


class Drive:
    """One drive of a loop: its batches, and what follows each one."""

    def __init__(self, loop: TrioEventLoop, until_stopped: bool) -> None:
        self.loop = loop
        self.until_stopped = until_stopped
        self.selector = loop._selector
        self.task = trio.lowlevel.current_task()
        # Without Trio's run context (another Trio version) there is no
        # guard: batches run with Trio's current task left as it is.
        self.run_context = (
            trio_run_context if hasattr(trio_run_context, "task") else _NoGuard()
        )
        self.guard = self.guard_for(self.task)
        #: The asyncio timer's alarm while the driver parks (see ``run``),
        #: and the asyncio time its deadline is for.
        self.alarm: trio.CancelScope
        self.alarm_for: float | None = None
        #: True when a batch run by another task (``batch_here``) left the
        #: driver to decide what follows it.
        self.resume = False

    def guard_for(self, task: trio.lowlevel.Task) -> NotATrioTask | None:
        """What asyncio code sees as Trio's current task in a batch hosted
        by ``task``: hosted, a guard; in sync mode none at all, as under
        stock asyncio (see ``_flavour``)."""
        return NotATrioTask(task) if self.loop._trio.hosted else None

    @trio.lowlevel.enable_ki_protection
    async def run(self) -> None:
        loop = self.loop
        selector = self.selector
        checkpoint = trio.lowlevel.checkpoint
        wake = selector.wake_from_trio(loop)
        while True:
            # One cancel scope serves as the asyncio timer's alarm for as
            # many parks as it can: its deadline is moved only when the
            # earliest timer changes, and the scope is replaced only once it
            # has gone off.  (A fresh scope per park cost more than the rest
            # of the park.)
            with trio.CancelScope() as self.alarm:
                self.alarm_for = None
                while True:
                    if self.resume:
                        self.resume = False
                    else:
                        self.batch(self.task, self.guard)
                    if loop._stopping:
                        if self.until_stopped:
                            return
                        loop._stopping = False
                    if selector.park_for < 0 or loop._ready:
                        # Work found, or Trio's turn after a block in place.
                        # (Work can be ready although the poll found none: a
                        # timer that came due as the iteration ran.)
                        selector.park_for = NOT_PARKING
                        await checkpoint()
                        continue
                    if loop._trio.checkpoints:
                        # A trio_as_aio call was handed to Trio: give it a
                        # step or two (Trio may run us first in its next
                        # batch) before parking.
                        loop._trio.checkpoints -= 1
                        selector.park_for = NOT_PARKING
                        await checkpoint()
                        continue
                    self.set_alarm()
                    loop._parked = wake
                    try:
                        await selector.park(self)
                    finally:
                        loop._parked = None
                        if not self.resume:
                            selector.park_for = NOT_PARKING

    def batch(self, task: trio.lowlevel.Task, guard: NotATrioTask | None) -> None:
        """Iterations back to back, in ``task``, until the loop wants to
        sleep, stops, or has held the thread for ``YIELD_INTERVAL``.

        Around it the thread looks like asyncio's (see ``_flavour``; the
        switch is written in, not ``asyncio_flavour``, to keep it cheap)."""
        loop = self.loop
        selector = self.selector
        run_once = loop._run_once
        perf_counter = time.perf_counter
        run_context = self.run_context
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
                    or selector.park_for != NOT_PARKING
                    or perf_counter() > selector.batch_end
                ):
                    break
        finally:
            selector.in_batch = False
            run_context.task = task
            _sniffio_state.name = prev_library
            _set_running_loop(prev_loop)

    def batch_here(self, task: trio.lowlevel.Task, guard: NotATrioTask | None) -> bool:
        """Run a batch in ``task`` while the driver stays parked, for a
        driver whose wake-ups land in another Trio task (the portable one's
        watchers): the woken task runs the loop itself, saving a Trio pass
        and two task steps per wake-up.  True if the loop may sleep on, its
        alarm set; False if the driver must decide what follows (stop, more
        work, a Trio hand-over): the caller then wakes it."""
        loop = self.loop
        self.batch(task, guard)
        if (
            loop._stopping
            or self.selector.park_for < 0
            or loop._ready
            or loop._trio.checkpoints
        ):
            self.resume = True
            return False
        self.set_alarm()
        return True

    def set_alarm(self) -> None:
        """Move the alarm's deadline to the earliest asyncio timer, if that
        changed since it was last set."""
        loop = self.loop
        scheduled: list[Any] = loop._scheduled
        wake_at = scheduled[0]._when if scheduled else None
        if wake_at != self.alarm_for:
            if wake_at is None:
                self.alarm.deadline = math.inf
            else:  # max(): a NaN time (asyncio accepts it) is due now
                self.alarm.deadline = trio.current_time() + max(
                    0.0,
                    wake_at - loop.time(),  # type: ignore[misc]
                )
            self.alarm_for = wake_at


class _NoGuard:
    """Where Trio's run context cannot be reached: a ``task`` slot that
    nobody reads, so the batch's guard swaps touch nothing of Trio's."""

    __slots__ = ("task",)

    def __init__(self) -> None:
        self.task: Any = None
