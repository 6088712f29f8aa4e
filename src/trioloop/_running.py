"""Which asyncio loop Trio code sees as running inside ``open_loop`` blocks.

Inside an ``open_loop`` block, Trio code may call synchronous asyncio APIs
(``asyncio.get_running_loop()``, ``loop.create_task``, ``asyncio.Event()``),
so the block's loop should be the thread's running loop there.  Asyncio work
itself always runs with its own loop set (the driver and eager steps switch
it per batch), so this is only about Trio tasks.

Two ways, chosen per Trio run:

* Simple (the common case: one ``open_loop`` and no other asyncio loop in the
  thread): the loop is set thread-wide for the block's duration.  Free.
* Tracked (several ``open_loop`` blocks at once, nested or side by side, or
  Trio running as a guest of a host asyncio loop, whose own callbacks must
  keep seeing the host loop): a Trio instrument sets, before each Trio task
  step, the loop of the innermost block around that task (from a context
  variable every task inherits), and restores the outer value after the step.
  Costs a little per Trio task step, so it is only installed when needed.
"""

from __future__ import annotations

from asyncio import AbstractEventLoop, events
from contextvars import ContextVar
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from ._loop import TrioEventLoop

__all__ = ["current_loop_var", "enter_block", "leave_block"]

#: The loop of the innermost ``open_loop`` block around the current Trio code.
current_loop_var: ContextVar[TrioEventLoop | None] = ContextVar(
    "trioloop_current_loop", default=None
)


class _Tracker(trio.abc.Instrument):
    """Sets the running loop per Trio task step (the tracked way)."""

    def __init__(self, outer: AbstractEventLoop | None) -> None:
        self.outer = outer

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        loop = task.context.get(current_loop_var)
        events._set_running_loop(
            self.outer if loop is None or loop.is_closed() else loop
        )

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        events._set_running_loop(self.outer)


class _RunState:
    def __init__(self) -> None:
        self.open_blocks = 0
        self.outer: AbstractEventLoop | None = None
        self.tracker: _Tracker | None = None


_run_state: trio.lowlevel.RunVar[_RunState] = trio.lowlevel.RunVar("trioloop_run_state")


def enter_block(loop: TrioEventLoop) -> None:
    """Make ``loop`` the running loop of the Trio code in its block."""
    try:
        state = _run_state.get()
    except LookupError:
        state = _RunState()
        _run_state.set(state)
    if state.open_blocks == 0:
        state.outer = events._get_running_loop()
    if state.open_blocks > 0 or state.outer is not None:
        _track(state)
    events._set_running_loop(loop)  # for the rest of this task step
    state.open_blocks += 1


def leave_block() -> None:
    """Undo ``enter_block`` once the block's ``current_loop_var`` is reset."""
    state = _run_state.get()
    state.open_blocks -= 1
    if state.open_blocks == 0:
        if state.tracker is not None:
            trio.lowlevel.remove_instrument(state.tracker)
            state.tracker = None
        events._set_running_loop(state.outer)
        state.outer = None
    else:
        enclosing = current_loop_var.get()
        events._set_running_loop(enclosing if enclosing is not None else state.outer)


def _track(state: _RunState) -> None:
    if state.tracker is None:
        state.tracker = _Tracker(state.outer)
        trio.lowlevel.add_instrument(state.tracker)
