"""Blocking in the loop's own selector while Trio has nothing else to run.

Parking in Trio (``wait_readable`` on the selector's fd, see ``_driver_epoll``)
costs an ``epoll_ctl`` and a Trio scheduler pass per wake-up: ~9 us, most of
what separated trioloop from asyncio when a server wakes for every message.
While the driver is the only Trio task that can run, that pass buys nothing.
So the selector's ``select`` may block where asyncio's would: in a small
epoll set holding both the selector's fd and Trio's own epoll fd, for no
longer than the loop's timeout and Trio's next deadline.  Whatever would
have woken Trio - I/O for a Trio task, a thread's ``trio.from_thread``
call, a signal, Ctrl+C - makes Trio's fd readable and ends the block, and
the driver then takes a checkpoint so Trio handles it; if asyncio's fds or
timeout ended it, the loop's iteration simply goes on.

"The only Trio task that can run" has to be exact, and Trio runs tasks in
batches whose not-yet-run members are in no structure we can see.  So the
blocker is also an instrument: Trio calls ``after_io_wait`` just before it
forms a batch from its run queue, and the blocker records the batch's size.
The driver blocks only when its own batch held nothing but itself and
nothing has been scheduled since.  (Trio can still add tasks to a batch
after that hook, when it expires deadlines or wakes ``wait_all_tasks_blocked``
waiters: the hook also notes the earliest deadline, and the driver does not
block if that one is past or if there are idle waiters.)

This reads Trio internals (the runner's run queue, deadlines, idle waiters,
clock and epoll object), so it stays off whenever anything is not as
expected: other internals (another Trio version), guest mode (the host
loop, not this thread, must do the blocking), a clock other than Trio's
default (``MockClock``'s virtual time), ``wait_all_tasks_blocked`` waiters,
another instrument watching Trio's I/O waits (it would see none while the
driver blocks; another loop's blocker is one), or an I/O manager that is
not epoll.  When it is off, the driver parks in Trio as before;
``tests/test_idle_block.py`` checks that it is on with the Trio the tests
run against.
"""

from __future__ import annotations

import math
import select
from typing import Any

import trio

from ._trio_internals import idle_blocker_parts

__all__ = ["IdleBlocker"]

#: Longest single block, as Trio's own (its ``_MAX_TIMEOUT``).
_MAX_BLOCK = 86400.0


class IdleBlocker(trio.abc.Instrument):
    """Lets one driver block in its selector while its Trio run is idle."""

    def __init__(
        self,
        runner: Any,
        hooks: dict[str, Any],
        trio_epoll: select.epoll,
        selector_fd: int,
    ) -> None:
        self._runner = runner
        self._runq = runner.runq
        #: Size of the batch Trio is running (unknown until the next pass).
        self._batch_size = -1
        self._next_deadline = -math.inf
        self._trio_fd = trio_epoll.fileno()
        #: Trio's instruments by hook name.
        self._hooks = hooks
        self._epoll = select.epoll()
        try:
            self._epoll.register(selector_fd, select.EPOLLIN)
            self._epoll.register(self._trio_fd, select.EPOLLIN)
        except BaseException:
            self._epoll.close()
            raise

    @classmethod
    def start(cls, selector_fd: int) -> IdleBlocker | str:
        """A blocker installed in the current Trio run, or the reason why
        this run cannot have one (see the module docstring)."""
        parts = idle_blocker_parts()
        if isinstance(parts, str):
            return parts
        blocker = cls(*parts, selector_fd)
        trio.lowlevel.add_instrument(blocker)
        return blocker

    def close(self) -> None:
        try:
            trio.lowlevel.remove_instrument(self)
        except (KeyError, RuntimeError):  # already gone, or the run has ended
            pass
        self._epoll.close()

    def after_io_wait(self, timeout: float) -> None:
        # Called on every Trio scheduler pass while the loop runs: kept to a
        # few lookups.
        runner = self._runner
        if runner.waiting_for_idle:  # Trio may add them to this batch
            self._batch_size = -1
            return
        self._batch_size = len(self._runq)
        # Trio expires deadlines after this hook and before it forms the
        # batch; ``block`` checks none can have expired in between.  The
        # heap's top may be stale (a deadline since moved), which only makes
        # that check more cautious.
        heap = runner.deadlines._heap
        self._next_deadline = heap[0][0] if heap else math.inf

    def block(self, timeout: float | None) -> bool | None:
        """Block for up to ``timeout`` seconds (None: no limit) until an
        asyncio fd is ready or Trio has something to do.

        Returns None without blocking when another Trio task may run (the
        driver parks in Trio instead); True when Trio needs a pass (its fd
        is ready or its next deadline has come); False when asyncio's fds or
        its own timeout ended the block.
        """
        runner = self._runner
        if self._batch_size != 1 or self._runq or runner.waiting_for_idle:
            return None
        hooks = self._hooks
        if "before_io_wait" in hooks or len(hooks["after_io_wait"]) != 1:
            return None
        now = runner.clock.current_time()
        if self._next_deadline <= now:
            return None  # its task may be in this batch, woken by the expiry
        # Trio's SystemClock: sleep time = deadline - now
        trio_timeout = runner.deadlines.next_deadline() - now
        if trio_timeout <= 0:
            return True
        trio_first = timeout is None or trio_timeout <= timeout
        events = self._epoll.poll(
            min(trio_timeout if trio_first else timeout, _MAX_BLOCK),  # type: ignore[type-var]
            2,
        )
        if not events:
            return trio_first  # whose time came
        trio_fd = self._trio_fd
        for fd, _ in events:
            if fd == trio_fd:
                return True
        return False
