"""trio-asyncio's adapters and awaiting helpers, mapped onto trioloop's.

``aio_as_trio``/``trio_as_aio`` are trioloop's own (which accept trio-asyncio's
``loop=`` too); the helpers here are the trio-asyncio spellings of what
trioloop's adapters do with a future or an async iterator, plus
``allow_asyncio``, which trioloop itself has no counterpart for.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, TypeVar

from .._adapters import aio_as_trio, trio_as_aio
from .._bridge import open_trioloop, wait_future
from .._flavour import asyncio_allowed
from .._loop import TrioEventLoop

__all__ = [
    "aio_as_trio",
    "allow_asyncio",
    "asyncio_as_trio",
    "run_aio_future",
    "run_aio_generator",
    "trio_as_aio",
    "trio_as_asyncio",
]

T = TypeVar("T")

#: trio-asyncio's older names for the adapters.
asyncio_as_trio = aio_as_trio
trio_as_asyncio = trio_as_aio


async def run_aio_future(future: asyncio.Future[T]) -> T:
    """Wait from Trio for an asyncio future of a running trioloop loop and
    return its result; a Trio cancel cancels the future (and raises
    ``trio.Cancelled`` once it is cancelled)."""
    open_trioloop(future.get_loop())  # else nothing would ever complete it
    return await wait_future(future)


def run_aio_generator(
    loop: TrioEventLoop, async_generator: AsyncIterator[T]
) -> AsyncIterator[T]:
    """Iterate an asyncio async iterator from Trio, stepping it on ``loop``."""
    return aio_as_trio(async_generator, loop=loop)  # type: ignore[no-any-return]


async def allow_asyncio(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``await fn(*args)`` in the calling Trio task, letting it await
    asyncio futures (so asyncio and Trio code mix without adapters).

    Each asyncio future ``fn`` waits for is awaited through trioloop, from
    this Trio task: there is no asyncio task, so asyncio code that needs
    one (``asyncio.current_task()``, ``asyncio.timeout``, ``TaskGroup``)
    does not work here - as with trio-asyncio; wrap such code in
    ``aio_as_trio``.  A Trio cancel reaches the asyncio code as
    ``trio.Cancelled``, not ``CancelledError``.
    """
    awaitable = fn(*args)
    if asyncio.isfuture(awaitable):
        return await run_aio_future(awaitable)
    return await _forwarding_asyncio_futures(awaitable)


@types.coroutine
def _forwarding_asyncio_futures(awaitable: Awaitable[T]) -> Generator[Any, Any, T]:
    """Step ``awaitable``: an asyncio future it yields (asyncio's way of
    blocking) is waited for here; anything else is Trio's and goes up."""
    coroutine = awaitable.__await__()
    step: Callable[[Any], Any] = coroutine.send
    value: Any = None
    while True:
        asyncio_allowed.depth += 1  # futures made here may be awaited here
        try:
            yielded = step(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            asyncio_allowed.depth -= 1
        try:
            if asyncio.isfuture(yielded):
                yielded._asyncio_future_blocking = False  # as a Task does
                value = yield from run_aio_future(yielded).__await__()
            else:
                value = yield yielded
        except BaseException as exc:
            step, value = coroutine.throw, exc
        else:
            step = coroutine.send
