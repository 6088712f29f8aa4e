"""The portable driver: asyncio's fd readiness from Trio's own waits.

The epoll driver (``_driver_epoll``) parks on the selector's epoll fd inside
Trio's epoll.  Where that cannot be done - asyncio's selector is kqueue,
poll or select (macOS, the BSDs, Windows, or a Python without epoll), or
Trio's I/O manager is not epoll - this driver takes over.  It works on any
platform Trio runs on, through public Trio API only.

Design
------
The loop gets a :class:`PortableSelector`: the platform's own selector
(``selectors.DefaultSelector``) wrapped so that its ``select`` never blocks.
While the loop has work, each iteration polls that selector without waiting,
exactly as asyncio's does: one system call reports every ready fd, with the
selector's own level-triggered meaning, so a batch of readiness is handled
in one iteration and no Trio task runs per callback.

Only *parking* needs Trio: sleeping until some asyncio fd is ready.  Trio
offers one public way to wait for an fd, ``wait_readable``/``wait_writable``
in the waiting task, so every registered fd and direction gets a *watcher*:
a small Trio task, made once per registration (not per event) and reused
while it lasts.  A watcher that Trio wakes while the driver sleeps runs the
loop itself (``Drive.batch_here``): one batch of iterations in its own task,
polling the selector for all that is ready, then it re-arms and the driver
sleeps on - one Trio pass and one task step per wake-up.  The driver is
woken only when the batch leaves it something to decide (a stop, more work
than a batch, a Trio hand-over, an exception, which it raises as itself).
Watchers woken in the same Trio pass as that batch just re-arm: its poll came
after Trio's, so it saw their fds (``_IoWaits`` counts Trio's passes, and the
selector notes the count at each poll).

A watcher woken while the driver is awake does not run the loop: it goes
dormant and re-arms when the driver next parks, so it never spins on an fd
that stays ready while the loop runs (level-triggered readiness would
otherwise wake it on every Trio pass), and every registered fd is being
waited for, or about to be, whenever the driver sleeps: no missed wake-ups.
If the driver has been woken but has not run yet, the watcher skips the
dormant stage and re-arms in the Trio batch in which the driver runs.  epoll
and kqueue report only what is still ready when polled; if the fd is still
ready (or a backend reports a readiness already consumed), the watcher
wakes once more: bounded, not a spin.  A watcher keeps one cancel scope
across its waits, replaced only once a removal has cancelled it (a fresh
scope per wait was about a fifth of a wake's instructions).

Removing a reader or writer cancels its watcher's wait at once: Trio's
cancellation runs the wait's abort synchronously, which takes the fd out of
Trio's I/O manager before asyncio closes it (a wait left on a closed fd whose
number is reused would never wake).  Watchers are started, and dormant ones
re-armed, only as the loop goes to sleep: when the driver parks, or when a
watcher that ran the loop sleeps on.  They live in a nursery of the drive,
so they end with it; a sync run re-arms every registered fd when the next
run starts.

An fd that asyncio code and Trio code both wait on, in the same direction,
is one Trio cannot serve twice (``BusyResourceError``).  If Trio code waits
first, the loop fails with a ``RuntimeError`` that names the fd (the asyncio
side could otherwise never be woken); if asyncio registered first, the Trio
code gets Trio's ``BusyResourceError``.  Either way, an error and not a
hang.  (The epoll driver has no such limit: Trio only sees its epoll fd.)

Alternatives rejected: a Trio task per event or callback (trio-asyncio's
design: a task switch per callback), taking readiness from the watchers
instead of polling the selector (a Trio pass per ready fd, and asyncio's
level-triggered meaning to re-create), and a thread blocking in the
selector (a thread hand-off per wake-up).
"""

from __future__ import annotations

import logging
import math
import selectors
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from ._driver import NOT_PARKING
from ._groups import unwrap_lone_exception

if TYPE_CHECKING:
    from ._driver import Drive
    from ._flavour import NotATrioTask
    from ._loop import TrioEventLoop

__all__ = ["PortableSelector"]

logger = logging.getLogger("trioloop")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


class _Watcher:
    """One registered fd and direction, and the Trio task waiting for it."""

    __slots__ = ("fd", "event", "wanted", "scope", "task")

    def __init__(self, fd: int, event: int) -> None:
        self.fd = fd
        self.event = event
        #: Still registered with asyncio's selector.
        self.wanted = True
        #: The scope of the wait in progress (None: not waiting).
        self.scope: trio.CancelScope | None = None
        #: The Trio task, once started.
        self.task: trio.lowlevel.Task | None = None


class _IoWaits(trio.abc.Instrument):
    """Counts Trio's I/O waits, the start of each scheduler pass."""

    def __init__(self) -> None:
        self.count = 0

    def after_io_wait(self, timeout: float) -> None:
        self.count += 1


class PortableSelector(selectors.BaseSelector):
    """The platform's selector, polled without blocking; parking in Trio is
    done by one watcher task per registered fd and direction."""

    #: Which driver this selector belongs to (``TrioEventLoop.driver``).
    driver = "portable"
    #: It never blocks in place (``TrioEventLoop.idle_blocking``).
    idle_blocking = False

    def __init__(self) -> None:
        # Looked up now, not at import: tests and platforms without epoll
        # change it.
        self._native: selectors.BaseSelector = selectors.DefaultSelector()
        #: As ``ParkingSelector.park_for``: how long the loop asked to sleep.
        self.park_for = NOT_PARKING
        #: When the current batch ends (see ``DriverSelector``): the driver
        #: sets it; only the epoll driver's block in place also moves it.
        self.batch_end = 0.0
        #: True while the driver runs a batch (see ``DriverSelector``).
        self.in_batch = False
        self._watchers: dict[tuple[int, int], _Watcher] = {}
        #: Watchers to start at the next park (a dict: ordered, and a quick
        #: membership test when a sync run re-queues every registration).
        self._unstarted: dict[_Watcher, None] = {}
        self._dormant: list[trio.lowlevel.Task] = []
        self._nursery: trio.Nursery | None = None
        self._parked: trio.lowlevel.Task | None = None
        #: True from a wake of the parked driver until it runs again.
        self._waking = False
        #: True while a watcher runs the loop's batch, the driver parked.
        self._batch_here = False
        #: The drive that last parked (a watcher runs its batches).
        self._drive: Drive
        #: Trio's I/O waits so far, and the count at the last poll of the
        #: platform's selector: equal when the selector was polled after
        #: the wait that woke a watcher, which then has nothing to report.
        self._io_waits = _IoWaits()
        self._polled_after = -1
        self._failure: BaseException | None = None

    # -- asyncio's side: a selector -------------------------------------------

    def register(
        self, fileobj: Any, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        key = self._native.register(fileobj, events, data)
        self._want(key.fd, events)
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = self._native.unregister(fileobj)
        self._unwant(key.fd, key.events)
        return key

    def modify(
        self, fileobj: Any, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        old = self._native.get_key(fileobj).events
        key = self._native.modify(fileobj, events, data)
        self._unwant(key.fd, old & ~events)
        self._want(key.fd, events & ~old)
        return key

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        self._polled_after = self._io_waits.count
        ready = self._native.select(0)
        if ready or (timeout is not None and timeout <= 0):
            self.park_for = NOT_PARKING
            return ready
        if timeout is None:
            self.park_for = math.inf
        else:
            # Rounded up to milliseconds as the epoll driver does (so a
            # timer is due when the park ends), rejecting a NaN likewise.
            self.park_for = math.ceil(timeout * 1e3) * 1e-3
        return []

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._native.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._native.get_map()

    def close(self) -> None:
        for watcher in self._watchers.values():
            self._stop_wait(watcher)
        self._watchers.clear()
        self._unstarted.clear()
        self._native.close()

    # -- registrations to watchers ------------------------------------------

    def _want(self, fd: int, events: int) -> None:
        for event in (_READ, _WRITE):
            if events & event:
                watcher = self._watchers.get((fd, event))
                if watcher is None:
                    watcher = self._watchers[fd, event] = _Watcher(fd, event)
                    self._unstarted[watcher] = None
                    # Registered by Trio code while the driver sleeps: it
                    # starts the watcher when it parks again.
                    self._wake_driver()
                else:  # removed earlier, its task not yet gone: reuse it
                    watcher.wanted = True

    def _unwant(self, fd: int, events: int) -> None:
        for event in (_READ, _WRITE):
            if events & event:
                watcher = self._watchers.get((fd, event))
                if watcher is not None:
                    watcher.wanted = False
                    self._stop_wait(watcher)

    @staticmethod
    def _stop_wait(watcher: _Watcher) -> None:
        # Trio runs the wait's abort now, so the fd leaves Trio's I/O
        # manager before asyncio may close it.
        if watcher.scope is not None:
            watcher.scope.cancel()
            watcher.scope = None

    # -- the driver's side ----------------------------------------------------

    @asynccontextmanager
    async def driving(self, loop: TrioEventLoop) -> AsyncIterator[None]:
        """Hold the watchers' nursery for one drive of the loop."""
        if loop.get_debug():
            logger.debug("%r parks in Trio on every wait: portable driver", loop)
        self._failure = None
        # Watchers never raise: only the drive's own exception can escape,
        # and it must come out as itself.
        trio.lowlevel.add_instrument(self._io_waits)
        with unwrap_lone_exception():
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for watcher in self._watchers.values():
                    if watcher.task is None:
                        self._unstarted[watcher] = None  # a new sync run
                try:
                    yield
                finally:
                    self._nursery = None
                    nursery.cancel_scope.cancel()
                    trio.lowlevel.remove_instrument(self._io_waits)

    async def park(self, drive: Drive) -> None:
        """Sleep until a watcher sees an fd ready (or the caller's cancel
        scope, the loop's timer alarm, goes off).  The watcher runs the
        loop's batch itself, and the driver sleeps on unless the batch
        leaves it something to decide."""
        assert self._nursery is not None, "park() outside driving()"
        self._drive = drive
        self._arm()
        if self._failure is None:
            self._parked = trio.lowlevel.current_task()
            try:
                await trio.lowlevel.wait_task_rescheduled(self._abort_park)
            finally:
                self._parked = None
                self._waking = False
                if self._failure is not None:
                    # Raised even over a cancellation: a KeyboardInterrupt
                    # out of a watcher's batch must not be lost.
                    raise self._failure  # noqa: B012
        else:
            raise self._failure

    def _arm(self) -> None:
        """Start new watchers and re-arm dormant ones: the driver is about
        to sleep, so every registered fd must be waited for."""
        nursery = self._nursery
        assert nursery is not None
        for watcher in self._unstarted:
            nursery.start_soon(self._watch, watcher)
        self._unstarted.clear()
        reschedule = trio.lowlevel.reschedule
        for task in self._dormant:
            reschedule(task)
        self._dormant.clear()

    def _abort_park(self, _: Any) -> trio.lowlevel.Abort:
        self._parked = None
        return trio.lowlevel.Abort.SUCCEEDED

    def wake_from_trio(self, loop: TrioEventLoop) -> Callable[[], object]:
        # A reschedule, cheaper than the self-pipe and its watcher.
        return self._wake_driver

    def _wake_driver(self) -> None:
        task = self._parked
        if task is not None and not self._batch_here:
            self._parked = None
            self._waking = True
            trio.lowlevel.reschedule(task)

    @trio.lowlevel.enable_ki_protection
    async def _watch(self, watcher: _Watcher) -> None:
        task = watcher.task = trio.lowlevel.current_task()
        guard: NotATrioTask | None = None
        wait = (
            trio.lowlevel.wait_readable
            if watcher.event == _READ
            else trio.lowlevel.wait_writable
        )
        try:
            while watcher.wanted:
                # One scope for every wait until a removal cancels it.
                scope = watcher.scope = trio.CancelScope()
                with scope:
                    while not scope.cancel_called:
                        try:
                            await wait(watcher.fd)
                        except trio.BusyResourceError as exc:
                            self._fail(watcher, exc)
                            return
                        except (trio.ClosedResourceError, OSError):
                            # Closed behind the loop's back (Trio's
                            # notify_closing, a bad fd): not a readiness to
                            # report; asyncio's own selector ignores it
                            # too.  Try again at the next park.
                            pass
                        else:
                            if self._parked is not None:
                                # The driver sleeps: run the loop here,
                                # unless a poll since Trio's wait saw this
                                # fd (another watcher woken with this one
                                # ran the loop): then just re-arm.
                                if self._polled_after == self._io_waits.count:
                                    continue
                                if guard is None:
                                    guard = self._drive.guard_for(task)
                                if not self._run_batch_here(task, guard):
                                    return
                                continue
                            if self._waking:
                                # The driver runs in Trio's next batch;
                                # re-arm in it too (see the docstring).
                                await trio.lowlevel.cancel_shielded_checkpoint()
                                continue
                        await self._until_park()
        finally:
            watcher.task = None
            watcher.scope = None
            if (
                not watcher.wanted
                and self._watchers.get((watcher.fd, watcher.event)) is watcher
            ):
                del self._watchers[watcher.fd, watcher.event]

    def _run_batch_here(
        self, task: trio.lowlevel.Task, guard: NotATrioTask | None
    ) -> bool:
        """The loop's batch, run by a woken watcher while the driver stays
        parked; then sleep on (watchers armed) or wake the driver to decide
        what follows.  False if the batch failed: the driver raises its
        exception and the watcher ends."""
        self._batch_here = True
        try:
            sleep_on = self._drive.batch_here(task, guard)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit, bugs
            self._batch_here = False
            self._end_drive(exc)
            return False
        self._batch_here = False
        if self._parked is None:
            # Cancelled while the batch ran: the driver takes over.
            return True
        if sleep_on:
            self._arm()
        else:
            self._wake_driver()
        return True

    async def _until_park(self) -> None:
        """Stay dormant until the driver next parks."""
        task = trio.lowlevel.current_task()
        self._dormant.append(task)

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._dormant.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _fail(self, watcher: _Watcher, exc: BaseException) -> None:
        direction = "readable" if watcher.event == _READ else "writable"
        failure = RuntimeError(
            f"fd {watcher.fd}: asyncio code waits for it to become {direction}, "
            "and so does a Trio task; the portable driver cannot share an fd "
            "and direction between the two (Trio allows one waiter)"
        )
        failure.__cause__ = exc
        self._end_drive(failure)

    def _end_drive(self, failure: BaseException) -> None:
        """Have the driver raise ``failure`` (the first one, if several)."""
        if self._failure is None:
            self._failure = failure
        self._wake_driver()
