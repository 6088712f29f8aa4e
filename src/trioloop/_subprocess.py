"""Child-process exit watching without asyncio's child watchers.

asyncio (up to 3.13) finds out that a child exited through a policy-wide
"child watcher"; 3.14 removed them.  We need neither: on Linux a pidfd
(``os.pidfd_open``) becomes readable when the child exits, so the loop's own
selector - which Trio already waits on - tells us, in any thread, with no
``SIGCHLD`` handler to fight over.  This is the mechanism Trio's own process
support uses.  Where pidfds are unavailable (old kernels), a daemon thread
waits for that one child and hands it to the loop to reap, thread-safely.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._unix_events import PlatformEventLoop

__all__ = ["watch_child"]

ExitCallback = Callable[[int], object]


def _reap(pid: int) -> int:
    """Collect ``pid``'s status; 255 when someone else already reaped it."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 255
    return os.waitstatus_to_exitcode(status)


def watch_child(loop: PlatformEventLoop, pid: int, on_exit: ExitCallback) -> None:
    """Call ``on_exit(returncode)`` in ``loop`` once child ``pid`` exits."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        _watch_with_thread(loop, pid, on_exit)
        return

    def exited() -> None:
        loop._remove_reader(pidfd)
        loop._trio.child_pidfds -= {pidfd}
        os.close(pidfd)
        on_exit(_reap(pid))

    loop._add_reader(pidfd, exited)
    loop._trio.child_pidfds |= {pidfd}


def _watch_with_thread(
    loop: PlatformEventLoop, pid: int, on_exit: ExitCallback
) -> None:
    """The fallback: a thread waits for the exit, the loop reaps the child.

    The thread waits with ``waitid(..., WNOWAIT)``, which leaves the child a
    zombie: its PID stays reserved until the loop thread reaps it and reports
    the exit in one step, as with a pidfd.  Reaping in the thread would open
    a window in which ``returncode`` is still None but the PID is free for
    the kernel to reuse, and ``send_signal()``/``kill()`` could hit an
    unrelated process (CPython gh-127049, fixed the same way in 3.14's
    threaded child watcher).
    """

    def exited() -> None:
        on_exit(_reap(pid))

    def wait() -> None:
        if hasattr(os, "waitid"):
            try:
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:
                pass  # reaped by someone else: _reap reports 255
            try:
                loop.call_soon_threadsafe(exited)
            except RuntimeError:  # the loop is closed: leave no zombie
                _reap(pid)
        else:
            returncode = _reap(pid)
            if not loop.is_closed():
                loop.call_soon_threadsafe(on_exit, returncode)

    threading.Thread(target=wait, name=f"trioloop-waitpid-{pid}", daemon=True).start()
