"""The public adapters: ``aio_as_trio`` and ``trio_as_aio``.

Each accepts the shapes async code comes in - functions (also as
decorators), awaitables, async iterators, async context managers - and
routes them to the crossing machinery of ``_bridge`` (calls) and
``_contexts`` (context managers, which need one host task for the block).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from ._bridge import call_aio, call_trio
from ._contexts import AioContextManager, TrioContextManager

__all__ = ["aio_as_trio", "trio_as_aio"]

T = TypeVar("T")


class _AioIterator(Generic[T]):
    """A Trio async iterator over an asyncio async iterator."""

    def __init__(self, iterator: AsyncIterator[T]) -> None:
        self._iterator = iterator

    def __aiter__(self) -> _AioIterator[T]:
        return self

    async def __anext__(self) -> T:
        return await call_aio(self._iterator.__anext__())

    async def aclose(self) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await call_aio(aclose())


class _AioCall:
    """``aio_as_trio(fn)(*args)``: await it, ``async for`` it or ``async with`` it."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._fn, self._args, self._kwargs = fn, args, kwargs

    def __await__(self) -> Any:
        return call_aio(self._fn(*self._args, **self._kwargs)).__await__()

    def __aiter__(self) -> _AioIterator[Any]:
        return _AioIterator(self._fn(*self._args, **self._kwargs).__aiter__())

    async def __aenter__(self) -> Any:
        self._manager = AioContextManager(self._fn(*self._args, **self._kwargs))
        return await self._manager.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return await self._manager.__aexit__(*exc_info)


def aio_as_trio(x: Any) -> Any:
    """Make asyncio code awaitable from Trio.

    ``x`` may be an async function (also as a decorator: the result is called
    like ``x`` and can be awaited, ``async for``-ed or ``async with``-ed), a
    coroutine or other awaitable, an asyncio future, an async iterator, or an
    async context manager.  Needs an enclosing ``trioloop.open_loop()``.
    """
    if asyncio.isfuture(x) or asyncio.iscoroutine(x):
        return call_aio(x)
    if hasattr(x, "__aenter__"):
        return AioContextManager(x)
    if hasattr(x, "__anext__"):
        return _AioIterator[Any](x)
    if hasattr(x, "__aiter__"):
        return _AioIterator[Any](x.__aiter__())
    if hasattr(x, "__await__"):
        return call_aio(x)
    if callable(x):

        @functools.wraps(x)
        def call(*args: Any, **kwargs: Any) -> _AioCall:
            return _AioCall(x, args, kwargs)

        return call
    raise TypeError(f"aio_as_trio() cannot adapt {x!r}")


# -- asyncio awaiting Trio -----------------------------------------------------


class _TrioIterator:
    """An asyncio async iterator over a Trio async iterator."""

    def __init__(self, iterator: Any) -> None:
        self._iterator = iterator

    def __aiter__(self) -> _TrioIterator:
        return self

    async def __anext__(self) -> Any:
        return await call_trio(self._iterator.__anext__)


class _TrioCallSite:
    """``trio_as_aio(fn)(*args)``: await it, ``async for`` it or ``async with`` it."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._fn, self._args, self._kwargs = fn, args, kwargs

    def __await__(self) -> Any:
        fn = functools.partial(self._fn, *self._args, **self._kwargs)
        return call_trio(fn).__await__()

    def __aiter__(self) -> _TrioIterator:
        return _TrioIterator(self._fn(*self._args, **self._kwargs).__aiter__())

    async def __aenter__(self) -> Any:
        self._manager = TrioContextManager(self._fn(*self._args, **self._kwargs))
        return await self._manager.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return await self._manager.__aexit__(*exc_info)


def trio_as_aio(x: Any) -> Any:
    """Make Trio code awaitable from asyncio code running on a trioloop loop.

    ``x`` may be a Trio async function (also as a decorator), an async
    iterator, or an async context manager (entered and exited in one Trio
    task, so nurseries and cancel scopes work).  The Trio side runs as a Trio task; cancelling the awaiting
    asyncio task cancels it (and waits for it to finish).
    """
    if hasattr(x, "__aenter__"):
        return TrioContextManager(x)
    if hasattr(x, "__anext__"):
        return _TrioIterator(x)
    if callable(x):

        @functools.wraps(x)
        def call(*args: Any, **kwargs: Any) -> _TrioCallSite:
            return _TrioCallSite(x, args, kwargs)

        return call
    raise TypeError(
        f"trio_as_aio() cannot adapt {x!r}: pass the Trio async function itself, "
        "not a coroutine (Trio coroutines can only run inside Trio tasks)"
    )
