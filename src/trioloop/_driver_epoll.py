"""The epoll driver: parking on the selector's own epoll fd (Linux).

asyncio's selector on Linux is an epoll object, itself a file descriptor
that reads as ready when any fd registered in it is.  The loop is given a
:class:`ParkingSelector`: an ordinary epoll selector whose ``select`` never
blocks.  When ``_run_once`` asks it to wait, it polls once without waiting
and, if nothing is ready, records how long the loop wanted to sleep; the
driver then *parks* in Trio, waiting for the selector's fd to become
readable.  One Trio wake covers any number of ready asyncio fds, and Trio
sees only that one fd, so Trio code may wait on an fd asyncio also waits on.
While the driver is the only Trio task that can run, ``select`` blocks in
place instead (see ``_idle``), as asyncio's own would.

It needs asyncio's selector to be epoll and Trio's I/O manager to be epoll
(which can wait on an epoll fd); ``_driver.new_selector`` checks both and
uses the portable driver otherwise.
"""

from __future__ import annotations

import logging
import math
import select
import selectors
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from ._driver import NOT_PARKING, TRIO_TURN, YIELD_INTERVAL, Drive
from ._idle import IdleBlocker

if TYPE_CHECKING:
    from ._loop import TrioEventLoop

__all__ = ["ParkingSelector"]

logger = logging.getLogger("trioloop")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_NOT_IN = ~select.EPOLLIN
_NOT_OUT = ~select.EPOLLOUT


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
        #: ``NOT_PARKING`` when the last iteration found work, or
        #: ``TRIO_TURN`` when a block in place ended because Trio has work.
        self.park_for = NOT_PARKING
        #: The driver's batch ends at this ``perf_counter()`` time; a block
        #: in place starts a new batch.
        self.batch_end = 0.0
        #: Set by the driver while its Trio run allows blocking in place.
        self.blocker: IdleBlocker | None = None
        #: True while the driver runs a batch (see ``DriverSelector``).
        self.in_batch = False

    #: Which driver this selector belongs to (``TrioEventLoop.driver``).
    driver = "epoll"

    @property
    def idle_blocking(self) -> bool:
        """Whether ``select`` may block in place now (see ``_idle``)."""
        return self.blocker is not None

    @asynccontextmanager
    async def driving(self, loop: TrioEventLoop) -> AsyncIterator[None]:
        """Install the idle blocker for one drive of the loop, where this
        Trio run allows one (in debug mode, log why not)."""
        blocker = IdleBlocker.start(self.fileno())
        if isinstance(blocker, str):
            if loop.get_debug():
                logger.debug("%r parks in Trio on every wait: %s", loop, blocker)
        else:
            self.blocker = blocker
        try:
            yield
        finally:
            if self.blocker is not None:
                self.blocker.close()
                self.blocker = None

    async def park(self, drive: Drive) -> None:
        """Sleep in Trio until an asyncio fd is ready (or the caller's cancel
        scope, the loop's timer alarm, goes off).

        Work added from outside a batch (a ``call_soon`` from a Trio task, a
        thread, a signal handler) wakes the driver through the loop's
        self-pipe, which is one of the selector's fds: cheaper than
        cancelling a scope.
        """
        await trio.lowlevel.wait_readable(self.fileno())

    def wake_from_trio(self, loop: TrioEventLoop) -> Callable[[], object]:
        # The self-pipe is one of the selector's fds.
        return loop._write_to_self

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
            self.park_for = NOT_PARKING
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
                    self.park_for = TRIO_TURN
                    return []
                return self.select(0)  # what woke it, without blocking
        self.park_for = math.inf if timeout is None else timeout
        return []
