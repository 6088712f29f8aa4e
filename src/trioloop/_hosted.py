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
import functools
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from ._bridge import _current_loop, spawn_aio, wait_future
from ._driver import drive
from ._loop import TrioEventLoop

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["open_loop"]


@asynccontextmanager
async def open_loop(*, debug: bool | None = None) -> AsyncIterator[TrioEventLoop]:
    """Run an asyncio event loop for the duration of the block.

    On cancellation of the block, the loop's asyncio tasks are cancelled and
    awaited before the cancellation propagates.
    """
    loop = TrioEventLoop()
    if debug is not None:
        loop.set_debug(debug)
    loop._hosted = True
    loop._set_clock(trio.lowlevel.current_clock().current_time)
    token = _current_loop.set(loop)
    lone_error: BaseException | None = None
    try:
        try:
            async with trio.open_nursery() as nursery:
                loop._nursery = nursery
                loop._begin_run()
                driver = _Driver(loop)
                nursery.start_soon(driver.run)
                try:
                    yield loop
                finally:
                    with trio.CancelScope(shield=True):
                        await _shut_down(loop, driver)
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if len(group.exceptions) != 1:
                raise
            lone_error = group.exceptions[0]
        if lone_error is not None:
            raise lone_error
    finally:
        lone_error = None
        if loop._thread_id is not None:
            loop._end_run()
        loop._nursery = None
        _current_loop.reset(token)
        loop._hosted = False
        loop.close()


class _Driver:
    """The hosted loop's driver task, and whether it is still alive."""

    def __init__(self, loop: TrioEventLoop) -> None:
        self.loop = loop
        self.alive = False

    async def run(self) -> None:
        self.alive = True
        try:
            await drive(self.loop, until_stopped=False)
        finally:
            self.alive = False


async def _shut_down(loop: TrioEventLoop, driver: _Driver) -> None:
    """What ``asyncio.run`` does after its main task, even if the driver died
    (a ``KeyboardInterrupt`` from a callback): then a stand-in drives the loop
    for the clean-up, as ``asyncio.run`` runs its loop again for it."""
    async with trio.open_nursery() as nursery:
        if not driver.alive:
            nursery.start_soon(functools.partial(drive, loop, until_stopped=False))
        await _cancel_tasks_and_close(loop)
        nursery.cancel_scope.cancel()


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
                    "message": "unhandled exception during trioloop.open_loop() shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )
    await wait_future(spawn_aio(loop, loop.shutdown_asyncgens()))
    await wait_future(spawn_aio(loop, loop.shutdown_default_executor()))
