"""The public adapters: ``aio_as_trio`` and ``trio_as_aio``.

Async code comes in several shapes - functions (also used as decorators),
awaitables, async iterators, async context managers - and one object is
often several at once (aiohttp's ``session.get(url)`` is awaitable *and* an
async context manager; a websockets connection is a context manager *and*
an async iterator).  So each adapter returns one object that offers every
protocol the wrapped object offers, and routes each to the crossing
machinery: ``_bridge`` for calls, ``_contexts`` for context managers (which
need one host task for the whole block).

A wrapped call is also a genuine coroutine object (``collections.abc``
registers it as one), so it can be handed to ``nursery.start_soon`` or
``asyncio.create_task`` like any coroutine.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from ._bridge import call_aio, call_trio
from ._contexts import AioContextManager, TrioContextManager
from ._loop import TrioEventLoop

__all__ = ["aio_as_trio", "trio_as_aio"]


class _Crossing(Coroutine[Any, Any, Any]):
    """One crossing to the other flavour, usable in every way the target is.

    ``target()`` produces the object on the other side (the result of calling
    the wrapped function, or the wrapped object itself).  Awaiting (or
    stepping) runs ``_await_target`` as a coroutine; ``async with`` and
    ``async for`` use the target's own protocols through the crossing.
    """

    def __init__(
        self,
        target: Callable[[], Any],
        *,
        plain: bool = False,
        loop: TrioEventLoop | None = None,
    ) -> None:
        #: ``plain``: calling ``target`` runs no user code (it only creates a
        #: coroutine, or returns an existing object), so it may happen here.
        self._target = target
        self._plain = plain
        #: The ``loop=`` argument of the adapter (``None``: the usual one).
        self._loop = loop
        self._coro: Coroutine[Any, Any, Any] | None = None
        self._manager: Any = None
        self._iterator: Any = None

    # -- as an async context manager or iterator ---------------------------------

    #: What hosts ``async with`` on the target's side (``_contexts``).
    _manager_type: type[AioContextManager | TrioContextManager]

    async def __aenter__(self) -> Any:
        self._manager = self._manager_type(self._target(), self._loop)
        return await self._manager.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> bool:
        return await self._manager.__aexit__(*exc_info)  # type: ignore[no-any-return]

    def __aiter__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._target().__aiter__()
        return self

    # -- as a coroutine ----------------------------------------------------------

    def _await_target(self) -> Coroutine[Any, Any, Any]:
        raise NotImplementedError

    def _started(self) -> Coroutine[Any, Any, Any]:
        if self._coro is None:
            self._coro = self._await_target()
        return self._coro

    def send(self, value: Any) -> Any:
        return self._started().send(value)

    def throw(self, *exc_info: Any) -> Any:
        return self._started().throw(*exc_info)

    def close(self) -> None:
        if self._coro is not None:
            self._coro.close()

    def __await__(self) -> Generator[Any, Any, Any]:
        return self._started().__await__()

    @property
    def cr_frame(self) -> Any:  # read by Trio's Ctrl+C handling and tracebacks
        return getattr(self._started(), "cr_frame", None)

    @property
    def cr_await(self) -> Any:
        return getattr(self._coro, "cr_await", None)

    @property
    def cr_running(self) -> bool:
        return bool(getattr(self._coro, "cr_running", False))

    @property
    def cr_code(self) -> Any:
        return getattr(self._started(), "cr_code", None)


class _AioCrossing(_Crossing):
    """Trio side of asyncio code (what ``aio_as_trio`` returns)."""

    def _await_target(self) -> Coroutine[Any, Any, Any]:
        if self._plain:
            return call_aio(self._target(), self._loop)
        return call_aio(_in_asyncio(self._target), self._loop)

    _manager_type = AioContextManager

    async def __anext__(self) -> Any:
        iterator = self.__aiter__()._iterator
        # __anext__() itself is called in asyncio, so an async generator's
        # first iteration registers it with the loop, not with Trio.
        return await call_aio(_in_asyncio(lambda: iterator.__anext__()), self._loop)

    async def aclose(self) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await call_aio(_in_asyncio(aclose), self._loop)


async def _in_asyncio(make_awaitable: Callable[[], Any]) -> Any:
    """Create and await an awaitable inside the asyncio task."""
    awaitable = make_awaitable()
    if asyncio.isfuture(awaitable) or hasattr(awaitable, "__await__"):
        return await awaitable
    raise TypeError(f"aio_as_trio: {awaitable!r} is not awaitable")


class _TrioCrossing(_Crossing):
    """asyncio side of Trio code (what ``trio_as_aio`` returns)."""

    def _await_target(self) -> Coroutine[Any, Any, Any]:
        return call_trio(self._target_awaited, loop=self._loop)

    async def _target_awaited(self) -> Any:
        return await self._target()

    _manager_type = TrioContextManager

    async def __anext__(self) -> Any:
        return await call_trio(self.__aiter__()._iterator.__anext__, loop=self._loop)


def _adapt(
    x: Any, crossing: type[_Crossing], name: str, loop: TrioEventLoop | None
) -> Any:
    if callable(x) and not _is_async_object(x):
        if inspect.iscoroutinefunction(x):
            # What an async function returns can only be awaited: the
            # crossing is then just the bridge's coroutine (the hot path).
            return _plain_call(x, crossing, loop)

        @functools.wraps(x)
        def call(*args: Any, **kwargs: Any) -> _Crossing:
            return crossing(functools.partial(x, *args, **kwargs), loop=loop)

        return call
    if _is_async_object(x):
        plain = asyncio.isfuture(x) or asyncio.iscoroutine(x)
        return crossing(lambda: x, plain=plain, loop=loop)
    raise TypeError(f"{name}() cannot adapt {x!r}")


def _plain_call(
    fn: Callable[..., Any], crossing: type[_Crossing], loop: TrioEventLoop | None
) -> Any:
    if crossing is _AioCrossing:

        @functools.wraps(fn)
        def call_asyncio(*args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
            return call_aio(fn(*args, **kwargs), loop)

        return call_asyncio

    @functools.wraps(fn)
    def call_trio_fn(*args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        if kwargs:
            return call_trio(functools.partial(fn, **kwargs), *args, loop=loop)
        return call_trio(fn, *args, loop=loop)

    return call_trio_fn


def _is_async_object(x: Any) -> bool:
    return asyncio.isfuture(x) or any(
        hasattr(x, attribute)
        for attribute in ("__await__", "__aenter__", "__aiter__", "__anext__")
    )


def aio_as_trio(x: Any, *, loop: TrioEventLoop | None = None) -> Any:
    """Make asyncio code usable from Trio code inside ``trioloop.open_loop()``.

    ``x`` may be an async function (also as a decorator: calling the result
    gives something to ``await``, ``async with`` or ``async for``, or to hand
    to ``nursery.start_soon``), a coroutine or other awaitable, an asyncio
    future, an async iterator, or an async context manager.

    The code runs on the loop of the innermost ``open_loop`` block around
    the caller, or on ``loop`` (any running trioloop loop: an outer block's).

    Cancellation: a Trio cancel cancels the asyncio task running the code and
    waits for it to finish; then ``trio.Cancelled`` is raised (or the
    exception the asyncio side's clean-up raised instead).
    """
    return _adapt(x, _AioCrossing, "aio_as_trio", loop)


def trio_as_aio(x: Any, *, loop: TrioEventLoop | None = None) -> Any:
    """Make Trio code usable from asyncio code running on a trioloop loop.

    ``x`` may be a Trio async function (also as a decorator), an async
    iterator, or an async context manager (entered and exited in one Trio
    task, so nurseries and cancel scopes work).  A Trio *coroutine* object
    cannot cross: Trio coroutines can only run as Trio tasks, so pass the
    function.  ``loop``, if given, must be the loop running the asyncio
    caller (the Trio side runs in that loop's nursery); any other is an error.

    Cancellation: cancelling the awaiting asyncio task cancels the Trio side
    and waits for it to finish; then ``CancelledError`` is raised (or the
    exception the Trio side's clean-up raised instead).
    """
    if asyncio.iscoroutine(x):
        raise TypeError(
            f"trio_as_aio() cannot adapt {x!r}: pass the Trio async function "
            "itself (Trio coroutines can only run inside Trio tasks)"
        )
    return _adapt(x, _TrioCrossing, "trio_as_aio", loop)
