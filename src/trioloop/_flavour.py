"""Which flavour of async code is running: the state both sides rely on.

asyncio code needs the thread's running loop set (Python 3.14 keeps it in C
thread state and will not step a task otherwise) and ``sniffio`` saying
``"asyncio"`` (anyio and httpx pick their backend from it).  Trio code needs
``sniffio`` saying ``"trio"``.

Trio also needs to know that asyncio code is *not* a Trio task.  While
asyncio code runs, Trio's notion of "the current task" would otherwise be the
task that happens to host it (the driver, or a Trio task starting an eager
asyncio task), and a Trio function awaited by mistake from asyncio code would
push its cancel scopes onto that task and corrupt it.  So for the duration of
asyncio work, Trio's current task is a :class:`NotATrioTask` guard: every Trio
operation that needs a task fails at once with an error that names the
adapter to use, while task-free Trio calls (``Event.set``, ``start_soon``,
``CancelScope.cancel``, ``reschedule``, ``current_time``) keep working.  The
guard answers the two questions Trio's Ctrl+C handler asks of the current
task (is it KI-protected, where is its frame) for the task hosting the
asyncio work, so Ctrl+C behaves as it would without the guard.

That is hosted mode, where Trio code and asyncio code share a Trio run by
design.  In sync mode (the loop as ``asyncio.run``'s loop factory) the Trio
run is the loop's own business, and asyncio code sees no Trio task at all,
as under stock asyncio: ``trio.lowlevel.current_task()`` raises, so
``trio.from_thread.run_sync(..., trio_token=...)`` into *another* thread's
Trio run works (Trio refuses it whenever the calling thread has a current
task, and a guard cannot tell that call from a mistaken one), and a Trio
function awaited by mistake fails with Trio's "must be called from async
context", as it does on stock asyncio.

The reverse mistake, asyncio code awaited from Trio code, is seen by Trio
only as an object yielded to its scheduler, which it rejects with a generic
``TypeError``.  trioloop cannot watch every yield without costing every Trio
task step, but it can mark the futures that Trio code makes: the loop's
``create_future`` called from Trio code (``asyncio.sleep``, ``Event.wait``,
``Queue.get``, locks and streams all wait on one) returns a
:class:`TrioMadeFuture`, which refuses to be awaited from Trio code with an
error naming ``aio_as_trio``, and is an ordinary future to asyncio code.
A bare ``yield`` (``asyncio.sleep(0)``), or a task or future made by asyncio
code and awaited from Trio code, still gets Trio's own error.
"""

from __future__ import annotations

import threading
from asyncio import AbstractEventLoop, Future, events
from collections.abc import Generator
from typing import Any, NoReturn

import sniffio

from ._trio_internals import ki_protected
from ._trio_internals import run_context as trio_run_context

__all__ = [
    "NotATrioTask",
    "TrioMadeFuture",
    "asyncio_allowed",
    "asyncio_flavour",
    "trio_run_context",
]

_state = sniffio.thread_local

WRONG_FLAVOUR = (
    "Trio code was called from asyncio code; Trio functions must run in a Trio "
    "task: await them from asyncio code through trioloop.trio_as_aio(fn)(...)"
)

ASYNCIO_IN_TRIO = (
    "asyncio code was awaited from Trio code; asyncio functions must run in an "
    "asyncio task: await them from Trio code through trioloop.aio_as_trio(fn)(...)"
)


class NotATrioTask:
    """Stands in for Trio's current task while asyncio code runs in ``host``."""

    __slots__ = ("_host",)

    def __init__(self, host: Any) -> None:
        object.__setattr__(self, "_host", host)

    @property
    def _ki_protected(self) -> bool:
        return ki_protected(self._host)

    @property
    def coro(self) -> Any:
        return self._host.coro

    def __getattr__(self, name: str) -> NoReturn:
        raise RuntimeError(WRONG_FLAVOUR)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise RuntimeError(WRONG_FLAVOUR)

    def __hash__(self) -> NoReturn:  # keeps it out of Trio's wait queues
        raise RuntimeError(WRONG_FLAVOUR)

    def __repr__(self) -> str:
        return "<asyncio code running on trioloop (not a Trio task)>"


class _AsyncioAllowed(threading.local):
    """Set (``depth`` > 0) while ``trioloop.compat.allow_asyncio`` steps Trio
    code that may await asyncio futures: it waits for them itself."""

    depth = 0


asyncio_allowed = _AsyncioAllowed()


class TrioMadeFuture(Future[Any]):
    """A future made by Trio code: refuses to be awaited by Trio code."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, Any]:
        if _state.name == "trio" and not asyncio_allowed.depth:
            raise RuntimeError(ASYNCIO_IN_TRIO)
        return super().__await__()

    __iter__ = __await__


class asyncio_flavour:
    """Run the block as asyncio code of ``loop``, then restore Trio's view.

    A class rather than a generator-based context manager: it sits on the
    path of every call from Trio into asyncio, where that was measurable.
    """

    __slots__ = ("loop", "prev_library", "prev_loop", "prev_task")

    def __init__(self, loop: AbstractEventLoop) -> None:
        self.loop = loop

    def __enter__(self) -> None:
        self.prev_loop = events._get_running_loop()
        self.prev_library = _state.name
        self.prev_task = getattr(trio_run_context, "task", None)
        events._set_running_loop(self.loop)
        _state.name = "asyncio"
        if self.prev_task is not None:
            if getattr(getattr(self.loop, "_trio", None), "hosted", True):
                trio_run_context.task = NotATrioTask(self.prev_task)
            else:
                del trio_run_context.task

    def __exit__(self, *exc_info: object) -> None:
        if self.prev_task is not None:
            trio_run_context.task = self.prev_task
        _state.name = self.prev_library
        events._set_running_loop(self.prev_loop)
