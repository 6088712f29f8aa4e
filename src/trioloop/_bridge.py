"""Crossing between the flavours: Trio code awaiting asyncio code.

``aio_as_trio(fn)`` runs ``fn``'s coroutine as a real asyncio task on the
loop of the enclosing :func:`trioloop.open_loop` and waits for it from Trio.
Cancellation maps: when the Trio side is cancelled, the asyncio task is
cancelled, the Trio side waits (shielded) until it has finished its cleanup,
then sees ``trio.Cancelled``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

import trio

from ._flavour import asyncio_flavour
from ._loop import TrioEventLoop

__all__ = ["aio_as_trio", "current_loop", "wait_future", "spawn_aio"]

T = TypeVar("T")
P = ParamSpec("P")

_current_loop: ContextVar[TrioEventLoop | None] = ContextVar(
    "trioloop_current_loop", default=None
)


def current_loop() -> TrioEventLoop:
    """The loop of the innermost ``open_loop`` block around this Trio code."""
    loop = _current_loop.get()
    if loop is None or loop.is_closed():
        raise RuntimeError(
            "no trioloop event loop is open here: wrap this code in "
            "'async with trioloop.open_loop():' (or use trioloop.run())"
        )
    return loop


def spawn_aio(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Create an asyncio task from Trio code (eager factories see asyncio)."""
    with asyncio_flavour(loop):
        return loop.create_task(coro)


async def wait_future(fut: asyncio.Future[T]) -> T:
    """Wait from Trio for an asyncio future; a Trio cancel cancels it."""
    if not fut.done():
        done = trio.Event()
        fut.add_done_callback(lambda _: done.set())
        try:
            await done.wait()
        except trio.Cancelled:
            fut.cancel()
            with trio.CancelScope(shield=True):
                await done.wait()
            raise
    return fut.result()


def aio_as_trio(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Wrap an asyncio async function so Trio code can await it."""

    @functools.wraps(fn)
    async def call_from_trio(*args: P.args, **kwargs: P.kwargs) -> T:
        loop = current_loop()
        awaitable = fn(*args, **kwargs)
        if not asyncio.iscoroutine(awaitable):
            awaitable = _as_coroutine(awaitable)
        return await wait_future(spawn_aio(loop, awaitable))

    return call_from_trio


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
