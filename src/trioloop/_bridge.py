"""The bridge: Trio code awaiting asyncio code, and asyncio code awaiting Trio.

Where each side runs
--------------------
``aio_as_trio`` runs the asyncio side as a *real* ``asyncio.Task`` of the
hosting loop, not as a look-alike: ``current_task()``, ``all_tasks()``,
``asyncio.timeout``, ``TaskGroup``, ``uncancel`` and Python 3.14's call-graph
introspection (``capture_call_graph``, ``python -m asyncio ps``) then work as
they do for any task, because it is one.  On Python 3.12+ the task starts
*eagerly* in the calling Trio task (with the running loop, current task and
``sniffio`` switched to asyncio for that step), so a call that completes
without blocking never touches the driver.  A call that blocks continues on
the driver; when the task finishes, its done-callback reschedules the
waiting Trio task directly (no ``trio.Event``, no extra task).

The alternative - a private task class stepping the coroutine inside the
Trio task - was rejected: it saves no wake-up (each asyncio future still
completes on the driver), costs a Trio switch per blocking step instead of
one per call, and is invisible to 3.14's C-level task introspection.

``trio_as_aio`` runs the Trio side in a Trio task of the loop's nursery
(hosted: the ``open_loop`` nursery; sync: the nursery of the current
``run_forever``), in a copy of the asyncio caller's contextvars.  That
nursery is not where the caller is: a cancel scope around the ``open_loop``
block (or the block's own exit) would reach the Trio side first, before its
asyncio caller and even while the whole crossing sits under a shield.  So
the Trio side runs in a *shielded* scope of its own, cancelled when, and
only when, its caller is cancelled - or when the loop closes (the workers are
closed after the asyncio tasks have been cancelled and awaited, hosted; at
the end of each ``run_forever``, sync).  The tasks are *reused*: spawning a Trio task cost more than a short call itself, so a
task that finished a call waits (up to ``IDLE_WORKERS`` of them) to be handed
the next one, rescheduled directly, with its ``Task.context`` (which Trio
reads at every step) set to the new call's context.  A task runs its calls
in one cancel scope until a call is cancelled through it, then opens a new
one, so a cancel never reaches another call.  Having handed a call over,
the asyncio side lets the driver take up to two Trio checkpoints instead of
parking: a call that finishes in its first step costs no wake-up.

Cancellation
------------
* A Trio cancel around ``aio_as_trio`` cancels the asyncio task and waits
  (it may ``await`` in its cleanup); then the Trio side sees
  ``trio.Cancelled``.  If the asyncio side finished anyway, its result or
  exception is delivered and Trio raises ``Cancelled`` at its next
  checkpoint.
* Cancelling the asyncio task awaiting ``trio_as_aio`` cancels the Trio
  side's cancel scope and waits for it to finish; then the asyncio side
  sees ``CancelledError``.  Nothing else cancels the Trio side while the
  loop runs: a Trio cancel reaches it only through its asyncio caller.
* An exception the Trio side raises while being cancelled (say a nursery
  whose child fails in its clean-up, grouped with the ``Cancelled``) goes to
  the asyncio caller: the shielded scope takes its own ``Cancelled`` out of
  the group and the rest is the call's error.
* ``KeyboardInterrupt``/``SystemExit`` are never swallowed: they reach the
  waiting side and keep propagating on their own side too.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import outcome
import trio

from ._flavour import asyncio_flavour
from ._loop import TrioEventLoop
from ._running import current_loop_var

__all__ = [
    "call_aio",
    "call_trio",
    "current_loop",
    "open_trioloop",
    "running_trioloop",
    "spawn_aio",
    "wait_future",
]

T = TypeVar("T")

_EAGER = sys.version_info >= (3, 12)


def current_loop() -> TrioEventLoop:
    """The loop of the innermost ``open_loop`` block around this Trio code."""
    loop = current_loop_var.get()
    if loop is None or loop.is_closed():
        raise RuntimeError(
            "no trioloop event loop is open here: wrap this code in "
            "'async with trioloop.open_loop():' (or use trioloop.run())"
        )
    return loop


def open_trioloop(loop: object) -> TrioEventLoop:
    """``loop`` itself, checked to be a trioloop loop that is running now (the
    ``loop=`` argument of the adapters: a loop other than the innermost)."""
    if (
        not isinstance(loop, TrioEventLoop)
        or loop.is_closed()
        or loop._trio.nursery is None
    ):
        raise RuntimeError(
            f"loop={loop!r} is not a running trioloop loop: pass the loop of an "
            "open 'async with trioloop.open_loop()' block (or of trioloop.run())"
        )
    return loop


# -- Trio awaiting asyncio -----------------------------------------------------


@trio.lowlevel.enable_ki_protection
def spawn_aio(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], *, eager: bool = True
) -> asyncio.Future[T]:
    """Start ``coro`` as an asyncio task from Trio code, eagerly where possible
    (and asked for; a user's task factory is always honoured)."""
    with asyncio_flavour(loop):
        if eager and _EAGER and loop.get_task_factory() is None:
            return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
        return loop.create_task(coro)


@trio.lowlevel.enable_ki_protection
async def wait_future(
    fut: asyncio.Future[T], *, cancel: Callable[[], object] | None = None
) -> T:
    """Wait from Trio for an asyncio future; a Trio cancel cancels it (or
    calls ``cancel``, when cancelling something else ends the wait)."""
    if fut.done():
        await trio.lowlevel.cancel_shielded_checkpoint()
    else:
        await _wait_done(fut, cancel)
    # The asyncio side finished, even if cancelled: its result is delivered
    # (Trio raises Cancelled at the next checkpoint), and an exception its
    # clean-up raised replaces the cancellation, as in Trio code.
    try:
        return fut.result()
    finally:
        # The frame is in the traceback of the exception it raises, which
        # fut keeps: without this, a cycle keeps both until gc.collect().
        del fut


@trio.lowlevel.enable_ki_protection
async def _wait_done(
    fut: asyncio.Future[Any], cancel: Callable[[], object] | None
) -> None:
    trio_task = trio.lowlevel.current_task()
    side = getattr(fut.get_loop(), "_trio", None)
    waiters = None if side is None else side.waiters
    abort_requested = False

    def wake(_: object) -> None:
        if waiters is None or trio_task in waiters:
            if waiters is not None:
                waiters.discard(trio_task)
            trio.lowlevel.reschedule(trio_task)

    def abort(_: object) -> trio.lowlevel.Abort:
        nonlocal abort_requested
        abort_requested = True
        if cancel is None:
            fut.cancel()
        else:
            cancel()
        return trio.lowlevel.Abort.FAILED  # wake() comes once fut is done

    fut.add_done_callback(wake)
    if waiters is not None:
        waiters.add(trio_task)  # woken with an error if the loop breaks
    await trio.lowlevel.wait_task_rescheduled(abort)
    if abort_requested and fut.cancelled():
        # Trio wanted to cancel us (or deliver KeyboardInterrupt): let it.
        await trio.lowlevel.checkpoint()


async def call_aio(awaitable: Awaitable[T], loop: TrioEventLoop | None = None) -> T:
    """Run ``awaitable`` on ``loop`` (default: the innermost ``open_loop``)."""
    try:
        loop = current_loop() if loop is None else open_trioloop(loop)
        await trio.lowlevel.checkpoint_if_cancelled()
    except BaseException:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()  # never started: no "never awaited" warning
        raise
    if asyncio.iscoroutine(awaitable):
        fut: asyncio.Future[T] = spawn_aio(loop, awaitable)
        # wait_future's own first lines, written here to spare the hot path
        # (a task that finished in its eager first step) a coroutine.
        try:
            if fut.done():
                await trio.lowlevel.cancel_shielded_checkpoint()
                return fut.result()
            return await wait_future(fut)
        finally:
            del fut  # no cycle through the traceback (see wait_future)
    if asyncio.isfuture(awaitable):
        if awaitable.get_loop() is not loop:
            raise RuntimeError(f"{awaitable!r} belongs to another event loop")
        return await wait_future(awaitable)
    return await wait_future(spawn_aio(loop, _as_coroutine(awaitable)))


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


# -- asyncio awaiting Trio -----------------------------------------------------


#: Finished Trio-side tasks kept waiting for the next ``trio_as_aio`` call.
IDLE_WORKERS = 16
#: The context of a waiting task: empty, never entered while it waits (a
#: task handed a call gets the caller's copy first), so shared by all.
_IDLE_CONTEXT = contextvars.Context()


class _TrioCall:
    """One Trio call made on behalf of an asyncio task."""

    __slots__ = (
        "loop",
        "fn",
        "args",
        "scope",
        "cancel_requested",
        "value",
        "error",
        "cancelled",
        "finished",
        "waiter",
    )

    def __init__(
        self,
        loop: TrioEventLoop,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
    ) -> None:
        self.loop = loop
        self.fn = fn
        self.args = args
        #: The cancel scope the call runs in, once a worker has started it.
        self.scope: trio.CancelScope | None = None
        self.cancel_requested = False
        #: How the Trio side ended: returned ``value``, raised ``error``, or
        #: was ``cancelled`` through its scope.
        self.value: Any = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.finished = False
        #: What the asyncio side awaits; replaced if its task cancels it.
        self.waiter: asyncio.Future[None] = loop.create_future()

    def cancel(self) -> None:
        """Cancel the Trio side, if it still runs (its scope then serves
        other calls, which a late cancel must not reach)."""
        self.cancel_requested = True
        if self.scope is not None and not self.finished:
            self.scope.cancel()

    def finish(self) -> None:
        """The Trio side ended: wake the asyncio side."""
        self.finished = True
        if not self.waiter.done():
            self.waiter.set_result(None)
        self.loop._trio.checkpoints = 0


class _Workers:
    """The reusable Trio tasks running ``trio_as_aio`` calls for one nursery.

    A worker runs calls one after another in one shielded cancel scope
    (entering a scope costs more than a short call) and starts a new scope
    only after a call was cancelled through it.  The nursery's cancellation
    does not reach into that scope: ``close`` cancels the scopes, once the
    calls' asyncio callers are done.
    """

    __slots__ = ("nursery", "idle", "scopes", "closed")

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.idle: list[trio.lowlevel.Task] = []
        #: The shielded scope of every worker that has one.
        self.scopes: set[trio.CancelScope] = set()
        self.closed = False

    def close(self) -> None:
        """End every worker: a running call sees a cancel, an idle worker
        stops waiting.  Call before cancelling the nursery (whose cancel
        cannot reach the shielded scopes)."""
        self.closed = True
        for scope in self.scopes:
            scope.cancel()

    def hand_over(self, call: _TrioCall) -> None:
        """Run ``call`` in an idle task, else a new one; either way in a copy
        of the caller's context (set before the task's next step)."""
        if self.idle:
            task = self.idle.pop()
            task.context = contextvars.copy_context()
            trio.lowlevel.reschedule(task, outcome.Value(call))
        else:
            self.nursery.start_soon(self._work, call)  # copies the context

    async def _work(self, call: _TrioCall | None) -> None:
        task = trio.lowlevel.current_task()
        idle = self.idle

        def abort(_: object) -> trio.lowlevel.Abort:
            idle.remove(task)  # the nursery is closing: stop waiting
            return trio.lowlevel.Abort.SUCCEEDED

        async def next_call() -> _TrioCall | None:
            """Wait idle for the next call (``None``: enough tasks wait, or
            the workers are closed)."""
            if self.closed or len(idle) >= IDLE_WORKERS:
                return None
            try:
                task.context = _IDLE_CONTEXT  # keep nothing of the last caller's
            except AttributeError:  # a Trio whose tasks' context is fixed
                return None  # (see _trio_internals): no reuse
            idle.append(task)
            return await trio.lowlevel.wait_task_rescheduled(abort)  # type: ignore[no-any-return]

        while call is not None:
            call = await self._run_in_one_scope(call, next_call)

    async def _run_in_one_scope(
        self,
        call: _TrioCall,
        next_call: Callable[[], Awaitable[_TrioCall | None]],
    ) -> _TrioCall | None:
        """Run calls until one is cancelled; return the next one to run."""
        running: _TrioCall | None = call
        scope = trio.CancelScope(shield=True)
        self.scopes.add(scope)
        try:
            with scope:
                if self.closed:
                    scope.cancel()
                while running is not None:
                    running.scope = scope
                    if running.cancel_requested:
                        scope.cancel()
                    try:
                        running.value = await running.fn(*running.args)
                    except Exception as exc:
                        running.error = exc
                    running.finish()
                    running = None
                    running = await next_call()
                return None
        except BaseException as exc:
            if running is not None:
                running.error = exc
                running.finish()
            if not isinstance(exc, Exception):
                # Ctrl+C, SystemExit (nothing from outside is cancelling
                # the shielded scope): the worker ends with it too.
                raise
            # An exception group our scope's exit left after taking its own
            # Cancelled out (a nursery whose clean-up failed): the caller
            # has it; this task goes on, outside the spent scope.
            return await next_call()
        finally:
            self.scopes.discard(scope)
        # Our scope ended a cancelled call (or the wait after a call that
        # swallowed its cancel).
        if running is not None:
            running.cancelled = True
            running.finish()
        return await next_call()


def _workers_for(loop: TrioEventLoop) -> _Workers:
    workers: _Workers | None = loop._trio.workers
    if workers is None or workers.nursery is not loop._trio.nursery:
        assert loop._trio.nursery is not None
        workers = loop._trio.workers = _Workers(loop._trio.nursery)
    return workers


def running_trioloop(named: TrioEventLoop | None = None) -> TrioEventLoop:
    """The trioloop loop running this asyncio code (which ``named``, the
    ``loop=`` argument of ``trio_as_aio``, if given, must be)."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, TrioEventLoop) or loop._trio.nursery is None:
        raise RuntimeError(
            "trio_as_aio() needs asyncio code running on a trioloop loop "
            f"(this one runs on {type(loop).__name__}); use trioloop.run(), "
            "trioloop.open_loop() or loop_factory=trioloop.new_event_loop"
        )
    if named is not None and named is not loop:
        raise RuntimeError(
            f"trio_as_aio(loop={named!r}) used from asyncio code running on "
            f"{loop!r}: the Trio side runs in the nursery of the loop running "
            "its caller, so loop= may only name that loop"
        )
    return loop


async def call_trio(
    fn: Callable[..., Awaitable[T]], *args: Any, loop: TrioEventLoop | None = None
) -> T:
    """Run ``fn(*args)`` in Trio for the running asyncio task; ``loop``, if
    given, must be the running loop (its nursery hosts the Trio side)."""
    loop = running_trioloop(loop)
    call = _TrioCall(loop, fn, args)
    _workers_for(loop).hand_over(call)
    loop._trio.checkpoints = 2
    try:
        await call.waiter
    except asyncio.CancelledError:
        # Our task was cancelled: cancel the Trio side and let it clean up
        # before the CancelledError goes on (repeated cancels only wait).
        call.cancel()
        while not call.finished:
            call.waiter = loop.create_future()
            try:
                await call.waiter
            except asyncio.CancelledError:
                pass
        # An exception raised by the Trio side's clean-up replaces the
        # cancellation, as it would in asyncio code.
        if isinstance(call.error, Exception):
            _raise_error_of(call)
        raise
    if call.error is not None:
        _raise_error_of(call)
    if call.cancelled:
        # Our scope caught a cancel that we did not ask for: the loop is
        # closing (sync mode: its run ended), or the Trio function cancelled
        # its own caller's scope.
        raise asyncio.CancelledError()
    return call.value  # type: ignore[no-any-return]


def _raise_error_of(call: _TrioCall) -> NoReturn:
    """Raise what the Trio side raised, keeping no frame -> error cycle."""
    error, call.error = call.error, None
    try:
        raise error  # type: ignore[misc]
    finally:
        del error
