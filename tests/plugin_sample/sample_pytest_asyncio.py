"""pytest-asyncio tests: function- and module-scoped loops, an async fixture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

import trioloop


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.read(100))
    await writer.drain()
    writer.close()
    await writer.wait_closed()


@pytest_asyncio.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.mark.asyncio
async def test_loop(expect_trioloop: bool) -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, trioloop.TrioEventLoop) is expect_trioloop


@pytest.mark.asyncio
async def test_echo_server_from_an_async_fixture(
    echo_port: int, expect_trioloop: bool
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_port)
    writer.write(b"hello")
    assert await reader.read(100) == b"hello"
    writer.close()
    await writer.wait_closed()
    loop = asyncio.get_running_loop()
    assert isinstance(loop, trioloop.TrioEventLoop) is expect_trioloop


@pytest.mark.asyncio
async def test_timeouts_and_tasks() -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.sleep(10), timeout=0.01)
    results = await asyncio.gather(*(asyncio.sleep(0.01, i) for i in range(5)))
    assert results == list(range(5))


loops: list[asyncio.AbstractEventLoop] = []


@pytest.mark.asyncio(loop_scope="module")
async def test_module_scoped_loop_first(expect_trioloop: bool) -> None:
    loops.append(asyncio.get_running_loop())
    assert isinstance(loops[0], trioloop.TrioEventLoop) is expect_trioloop


@pytest.mark.asyncio(loop_scope="module")
async def test_module_scoped_loop_second() -> None:
    assert asyncio.get_running_loop() is loops[0]
