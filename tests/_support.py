"""Helpers shared by the I/O behaviour tests (not fixtures: plain code).

``Recorder`` is a protocol that remembers every callback it got, so a test can
wait for a state ("EOF seen", "paused") instead of sleeping and hoping.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

#: Upper bound for any single wait in a test; far above what a pass needs.
TIMEOUT = 10.0

#: Stock asyncio's loop, the reference trioloop is compared with: asyncio's
#: selector loop, the class trioloop's loop is built on.  On Unix it is what
#: ``asyncio.new_event_loop()`` makes; on Windows that makes the Proactor
#: loop instead (IOCP completions, no ``add_reader``), which trioloop does
#: not host, so the suite names the selector loop itself.
new_stock_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.SelectorEventLoop


def loop_driver() -> str:
    """The driver a new trioloop loop gets here (``TRIOLOOP_DRIVER``)."""
    import trioloop

    loop = trioloop.new_event_loop()
    try:
        return loop.driver
    finally:
        loop.close()


def _ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _ipv6_loopback_available()
requires_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback (::1) here")


async def within(awaitable: Awaitable[T], seconds: float = TIMEOUT) -> T:
    """Await with a deadline, so a broken loop fails the test instead of hanging."""
    return await asyncio.wait_for(awaitable, seconds)


def tcp_pair(
    family: socket.AddressFamily = socket.AF_INET,
) -> tuple[socket.socket, socket.socket]:
    """Two connected non-blocking TCP sockets on the loopback interface."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen()
        client = socket.socket(family, socket.SOCK_STREAM)
        client.connect(listener.getsockname())
        server, _ = listener.accept()
    client.setblocking(False)
    server.setblocking(False)
    return client, server


class Recorder(asyncio.BaseProtocol):
    """Records callbacks; ``await until(predicate)`` waits for a state.

    Works as a stream, datagram or pipe protocol: it defines every callback
    those kinds of protocol receive.  With ``queue``, it puts itself in the
    queue on ``connection_made`` (how a test gets a server's protocols).
    """

    def __init__(
        self, *, keep_open_on_eof: bool = False, queue: asyncio.Queue[Any] | None = None
    ) -> None:
        self.transport: Any = None
        self.data = bytearray()
        self.datagrams: list[tuple[bytes, Any]] = []
        self.errors: list[BaseException] = []
        self.events: list[str] = []
        self.lost_exc: BaseException | None = None
        self.keep_open_on_eof = keep_open_on_eof
        self._queue = queue
        self._changed: asyncio.Future[None] | None = None

    def _note(self, event: str | None) -> None:
        if event is not None:
            self.events.append(event)
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    async def until(
        self, predicate: Callable[[Recorder], bool], seconds: float = TIMEOUT
    ) -> None:
        async def wait() -> None:
            while not predicate(self):
                self._changed = asyncio.get_running_loop().create_future()
                await self._changed

        await within(wait(), seconds)

    async def until_event(self, event: str) -> None:
        await self.until(lambda p: event in p.events)

    async def until_received(self, nbytes: int) -> None:
        await self.until(lambda p: len(p.data) >= nbytes or "lost" in p.events)
        assert len(self.data) >= nbytes, f"connection lost after {len(self.data)} bytes"

    # stream / pipe / subprocess-pipe callbacks
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._note("made")
        if self._queue is not None:
            self._queue.put_nowait(self)

    def data_received(self, data: bytes) -> None:
        self.data += data
        self._note(None)

    def eof_received(self) -> bool:
        self._note("eof")
        return self.keep_open_on_eof

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost_exc = exc
        self._note("lost")

    def pause_writing(self) -> None:
        self._note("pause_writing")

    def resume_writing(self) -> None:
        self._note("resume_writing")

    # datagram callbacks
    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams.append((data, addr))
        self._note(None)

    def error_received(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self._note("error")
