"""anyio tests, on each of anyio's backends (asyncio and trio)."""

from __future__ import annotations

import asyncio

import anyio
import pytest
import sniffio

import trioloop

pytestmark = pytest.mark.anyio


async def test_loop(anyio_backend_name: str, expect_trioloop: bool) -> None:
    assert sniffio.current_async_library() == anyio_backend_name
    if anyio_backend_name == "asyncio":
        loop = asyncio.get_running_loop()
        assert isinstance(loop, trioloop.TrioEventLoop) is expect_trioloop


async def test_task_group_and_streams() -> None:
    send, receive = anyio.create_memory_object_stream[int](1)
    received = []

    async def consume() -> None:
        async with receive:
            async for item in receive:
                received.append(item)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        async with send:
            for i in range(3):
                await send.send(i)
    assert received == [0, 1, 2]
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.01):
            await anyio.sleep(10)
