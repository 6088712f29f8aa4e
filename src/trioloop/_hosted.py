"""Hosted mode: an asyncio loop living inside a Trio program.

``open_loop()`` creates a :class:`TrioEventLoop`, makes it the running loop,
and starts its driver as a Trio task in a nursery of its own.  The body of
the ``async with`` block is Trio code that may create asyncio tasks and await
asyncio code through ``aio_as_trio``.  Leaving the block - normally, by an
exception, or by cancellation - cancels and awaits the loop's remaining
asyncio tasks (shielded, as ``asyncio.run`` does), shuts down async
generators and the default executor, stops the driver and closes the loop.

An exception raised in the block comes out as itself, not wrapped in an
exception group by the nursery that hosts the driver; likewise a lone
``KeyboardInterrupt``/``SystemExit`` raised by asyncio code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from ._bridge import spawn_aio, wait_future
from ._driver import drive
from ._groups import unwrap_lone_exception
from ._loop import TrioEventLoop
from ._running import current_loop_var, enter_block, leave_block
from ._strict import fail, make_strict, unretrieved_failures

__all__ = ["open_loop"]


@asynccontextmanager
async def open_loop(
    *,
    debug: bool | None = None,
    strict: bool = False,
    loop_factory: Callable[[], TrioEventLoop] = TrioEventLoop,
) -> AsyncIterator[TrioEventLoop]:
    """Run an asyncio event loop for the duration of the block.

    On leaving the block, the loop's asyncio tasks are cancelled and awaited
    (shielded, so this also happens when the block is cancelled), then async
    generators and the default executor are shut down and the loop closed.
    With ``strict=True`` the loop's tasks behave as children of the block
    (see ``trioloop._strict``): an unwatched failure fails the block, and a
    block that ends normally waits for its tasks instead of cancelling them.
    ``loop_factory`` makes the loop (a ``TrioEventLoop`` subclass, say).
    """
    loop = loop_factory()
    if not isinstance(loop, TrioEventLoop):
        if isinstance(loop, asyncio.AbstractEventLoop):
            loop.close()
        raise TypeError(
            f"open_loop(loop_factory=...) made {loop!r}, not a TrioEventLoop"
        )
    if debug is not None:
        loop.set_debug(debug)
    if strict:
        make_strict(loop)
    loop._trio.hosted = True
    loop._set_clock(trio.lowlevel.current_clock().current_time)
    token = current_loop_var.set(loop)
    loop._begin_run()
    enter_block(loop)
    try:
        with unwrap_lone_exception():
            async with trio.open_nursery() as nursery:
                loop._trio.nursery = nursery
                driver = _Driver(loop, nursery)
                nursery.start_soon(driver.run)
                block_failed = True
                try:
                    yield loop
                    block_failed = False
                finally:
                    driver.block_ended.set()
                    with trio.CancelScope(shield=True):
                        await _shut_down(loop, driver, wait=strict and not block_failed)
                    if strict:
                        for exc in unretrieved_failures(loop):
                            nursery.start_soon(fail, exc)
                    loop._close_trio_side(nursery)
    finally:
        loop._trio.nursery = None
        loop._end_run()
        current_loop_var.reset(token)
        leave_block()
        loop._trio.hosted = False
        loop.close()


class _Driver:
    """The hosted loop's driver task.

    It is shielded from the nursery's cancellation: whatever ends the block
    (an exception, a cancelled scope around it, a failing child task in
    strict mode), the block's clean-up still runs asyncio code and Trio code
    in the block may still be waiting for asyncio futures, so the loop must
    keep turning until ``stop()``.

    If asyncio code kills the driver with ``KeyboardInterrupt`` or
    ``SystemExit``, a stand-in takes over for the same reason, as
    ``asyncio.run`` runs its loop again for clean-up after an interrupt.
    Any other failure means the loop machinery itself is broken (or its state
    corrupted, say by a timer with a non-numeric deadline): the loop is
    marked broken, every Trio task waiting on it is woken with an error, and
    the clean-up skips what would need the loop to run.

    A ``stop()`` is ignored, unless the loop's class says it pauses the loop
    (``stop_pauses_hosted_loop``): then the driver stops after that
    iteration and waits for the block to end, to turn again for the clean-up.
    """

    def __init__(self, loop: TrioEventLoop, nursery: trio.Nursery) -> None:
        self.loop = loop
        self.nursery = nursery
        self.scope = trio.CancelScope(shield=True)
        self.block_ended = trio.Event()

    async def run(self, scope: trio.CancelScope | None = None) -> None:
        with scope or self.scope:
            try:
                if self.loop.stop_pauses_hosted_loop and not self.block_ended.is_set():
                    await drive(self.loop, until_stopped=True)
                    await self.block_ended.wait()
                await drive(self.loop, until_stopped=False)
            except trio.Cancelled:
                raise
            except (KeyboardInterrupt, SystemExit):
                if scope is None:  # the first driver: hand over to a stand-in
                    self.scope = trio.CancelScope(shield=True)
                    self.nursery.start_soon(self.run, self.scope)
                else:
                    self.loop._break(RuntimeError("interrupted during clean-up"))
                raise
            except BaseException as exc:
                self.loop._break(exc)
                raise

    def stop(self) -> None:
        self.scope.cancel()


async def _shut_down(loop: TrioEventLoop, driver: _Driver, *, wait: bool) -> None:
    """What ``asyncio.run`` does after its main task: cancel (or, in strict
    mode after a normal exit, wait for) the tasks, then close."""
    try:
        if loop._trio.broken is None:
            await _run_what_is_ready(loop)
            if wait:
                # asyncio.wait, unlike gather, leaves exceptions unretrieved
                while tasks := [t for t in asyncio.all_tasks(loop) if not t.done()]:
                    await wait_future(spawn_aio(loop, asyncio.wait(tasks)))
            await _cancel_tasks_and_close(loop)
    finally:
        driver.stop()  # even when the clean-up failed: else the block never ends


async def _run_what_is_ready(loop: TrioEventLoop) -> None:
    """Let the loop run the callbacks already queued, then come back.

    ``asyncio.run`` stops its loop through a callback queued when the main
    task ends, so whatever was queued before it - the first step of a task
    created just before, say - still runs before the tasks are cancelled.
    The block's end keeps that order: a task created by Trio code just
    before the block ends takes its first step, then is cancelled.
    """
    done = loop.create_future()
    loop.call_soon(done.set_result, None)
    await wait_future(done)


async def _cancel_tasks_and_close(loop: TrioEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await wait_future(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during open_loop() shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )
    await wait_future(spawn_aio(loop, loop.shutdown_asyncgens()))
    await wait_future(spawn_aio(loop, loop.shutdown_default_executor()))
