"""Async context managers across the bridge, entered and exited in one task.

Many context managers care which task they are entered and exited in:
``asyncio.timeout()`` and anyio cancel scopes cancel "their" task, aiohttp's
session checks it, a Trio nursery or cancel scope must be exited by the task
that entered it.  Entering in one bridged call and exiting in another (the
peer's way) breaks all of them.  So each adapter below keeps one *host* task
on the manager's own side for the life of the block: it enters the manager,
hands the value over, waits for the block to end, and exits the manager with
the block's exception.

Cancellation that the manager itself causes reaches the block on the other
side: an ``asyncio.timeout()`` used from Trio cancels the Trio block (the
timeout then raises ``TimeoutError`` as usual), and a Trio nursery used from
asyncio whose child fails cancels the asyncio block (the nursery then raises
its exception group as usual).
"""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType
from typing import Any

import outcome
import trio

from ._bridge import (
    current_loop,
    open_trioloop,
    running_trioloop,
    spawn_aio,
    wait_future,
)
from ._loop import TrioEventLoop

__all__ = ["AioContextManager", "TrioContextManager"]

ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
_NO_EXCEPTION: ExcInfo = (None, None, None)


class AioContextManager:
    """Use an asyncio async context manager from Trio (``aio_as_trio(cm)``),
    on ``loop`` (default: the innermost ``open_loop``)."""

    def __init__(self, manager: Any, loop: TrioEventLoop | None = None) -> None:
        self._manager = manager
        self._loop = loop

    async def __aenter__(self) -> Any:
        loop = current_loop() if self._loop is None else open_trioloop(self._loop)
        self._entered: asyncio.Future[Any] = loop.create_future()
        self._exit: asyncio.Future[ExcInfo] = loop.create_future()
        # The asyncio side cancels the Trio block through this scope.
        self._scope = trio.CancelScope()
        self._host = spawn_aio(loop, self._run_host(loop))
        try:
            value = await wait_future(self._entered, cancel=self._host.cancel)
        except BaseException as exc:
            # Entering failed, or Trio cancelled us: if the host got in, it
            # must still get out before we go on.
            if not self._exit.done():
                self._exit.set_result((type(exc), exc, exc.__traceback__))
            with trio.CancelScope(shield=True):
                await wait_future(self._host)
            raise
        self._scope.__enter__()
        return value

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._scope.__exit__(exc_type, exc, tb) and self._scope.cancelled_caught:
            # The block ended because the asyncio side cancelled it.
            exc_info: ExcInfo = (asyncio.CancelledError, asyncio.CancelledError(), None)
        else:
            exc_info = (exc_type, exc, tb)
        if not self._exit.done():
            self._exit.set_result(exc_info)
        suppress = await wait_future(self._host, cancel=self._host.cancel)
        if self._scope.cancelled_caught and exc_info[0] is asyncio.CancelledError:
            return True  # the manager's own cancellation, handled by it
        return bool(suppress)

    async def _run_host(self, loop: TrioEventLoop) -> bool | None:
        try:
            value = await self._manager.__aenter__()
        except asyncio.CancelledError:
            self._entered.cancel()
            return None
        except BaseException as exc:
            self._entered.set_exception(exc)
            return None
        self._entered.set_result(value)
        while True:
            try:
                exc_info = await self._exit
                break
            except asyncio.CancelledError:
                if self._exit.done() and not self._exit.cancelled():
                    exc_info = self._exit.result()
                    break
                # Cancelled while the Trio block runs (e.g. by the manager's
                # own timeout): cancel the block and wait for it to end.
                self._scope.cancel()
                self._exit = loop.create_future()
        return await self._manager.__aexit__(*exc_info)  # type: ignore[no-any-return]


class TrioContextManager:
    """Use a Trio async context manager from asyncio (``trio_as_aio(cm)``);
    ``loop``, if given, must be the running loop."""

    def __init__(self, manager: Any, loop: TrioEventLoop | None = None) -> None:
        self._manager = manager
        self._loop = loop

    async def __aenter__(self) -> Any:
        loop = running_trioloop(self._loop)
        assert loop._trio.nursery is not None
        self._block = asyncio.current_task()
        self._entered: asyncio.Future[Any] = loop.create_future()
        self._exited: asyncio.Future[outcome.Outcome[bool]] = loop.create_future()
        self._exit_request = trio.Event()
        self._exc_info: ExcInfo = _NO_EXCEPTION
        self._cancelled_block = False
        loop._trio.nursery.start_soon(self._run_host)
        try:
            return await self._entered
        except asyncio.CancelledError as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._exc_info = (exc_type, exc, tb)
        self._exit_request.set()
        while not self._exited.done():
            try:
                await asyncio.shield(self._exited)
            except asyncio.CancelledError:
                pass  # the Trio side decides; it is ending the block now
        if (
            self._cancelled_block
            and self._block is not None
            and sys.version_info >= (3, 11)
        ):
            self._block.uncancel()  # that cancel request was the manager's own
        result = self._exited.result()
        if isinstance(result, outcome.Error):
            if result.error is exc:
                return False
            raise result.error
        return exc is not None  # the manager suppressed it

    async def _run_host(self) -> None:
        try:
            async with self._manager as value:
                if self._entered.done():  # the asyncio side gave up entering
                    return
                self._entered.set_result(value)
                try:
                    await self._exit_request.wait()
                except trio.Cancelled:
                    # The manager cancelled its own scope (a failing nursery
                    # child): cancel the asyncio block, then let the manager
                    # absorb this Cancelled once the block has ended.
                    self._cancelled_block = True
                    if self._block is not None:
                        self._block.cancel()
                    with trio.CancelScope(shield=True):
                        await self._exit_request.wait()
                    if isinstance(self._exc_info[1], asyncio.CancelledError):
                        raise
                exc = self._exc_info[1]
                if exc is not None:
                    raise exc
        except BaseException as exc:
            if not self._entered.done():
                self._entered.set_exception(exc)
            if not self._exited.done():
                self._exited.set_result(outcome.Error(exc))
            if not isinstance(exc, Exception) and exc is not self._exc_info[1]:
                raise  # Cancelled from outside, KeyboardInterrupt, SystemExit
        else:
            self._exited.set_result(outcome.Value(True))
