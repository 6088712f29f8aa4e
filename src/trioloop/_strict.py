"""Strict mode of ``open_loop``: asyncio tasks as nursery children.

Trio users chose Trio for structured concurrency; in plain asyncio a task
that fails with nobody watching only gets logged ("Task exception was never
retrieved"), maybe much later, when it is garbage-collected.  With
``open_loop(strict=True)`` the loop's tasks behave like children of the
block's nursery:

* A task that fails while nothing watches it - no task awaits it and no
  done-callback is queued for it at the moment it fails - fails the block
  at once: the block is cancelled and its exception comes out of the
  ``async with`` (grouped with others, as a nursery's would).
* A task that fails while watched (awaited, gathered, or with a done
  callback) is checked again when the block ends: if its exception was
  never retrieved by then, it fails the block too.
* Leaving the block normally *waits* for the tasks still running instead of
  cancelling them; leaving it by an exception or cancellation cancels them,
  as a nursery does.

Tasks reach strict mode through ``loop.create_task`` (which ``create_task``,
``ensure_future``, ``TaskGroup``, ``gather`` and task factories all use).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._loop import TrioEventLoop

__all__ = ["fail", "make_strict", "unretrieved_failures"]


async def fail(exc: BaseException) -> None:
    """A nursery child that fails with ``exc`` (so the block does too)."""
    raise exc


def make_strict(loop: TrioEventLoop) -> None:
    """Route ``loop``'s tasks through strict-mode bookkeeping."""
    base_create_task = loop.create_task
    loop._trio.strict_failures = []

    def create_task(coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = base_create_task(coro, **kwargs)
        if task.done():  # finished eagerly, before any callback could be added
            _on_done(loop, task)
        else:
            task.add_done_callback(lambda task: _on_done(loop, task))
        return task

    loop.create_task = create_task  # type: ignore[method-assign]


def _on_done(loop: TrioEventLoop, task: asyncio.Task[Any]) -> None:
    if task.cancelled() or task._exception is None:
        return
    # Callbacks of a finished task are already queued as handles whose first
    # argument is the task: those are its watchers.
    watched = any(handle._args and handle._args[0] is task for handle in loop._ready)
    if watched:
        loop._trio.strict_failures.append(task)
    elif loop._trio.nursery is not None:
        loop._trio.nursery.start_soon(fail, task._exception)
        task.exception()  # retrieved: no "never retrieved" log as well


def unretrieved_failures(loop: TrioEventLoop) -> list[BaseException]:
    """Exceptions of watched tasks that nobody retrieved after all."""
    failures = [
        exc
        for task in loop._trio.strict_failures
        if task._log_traceback and (exc := task.exception()) is not None
    ]
    loop._trio.strict_failures.clear()
    return failures
