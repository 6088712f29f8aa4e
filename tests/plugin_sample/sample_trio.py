"""pytest-trio tests using asyncio code through the trioloop_loop fixture."""

from __future__ import annotations

import asyncio
import time

import pytest
import trio
import trio.testing

import trioloop


@pytest.mark.trio
async def test_asyncio_sleep_follows_the_autojump_clock(
    trioloop_loop: trioloop.TrioEventLoop, autojump_clock: trio.testing.MockClock
) -> None:
    wall, virtual = time.monotonic(), trio.current_time()
    await trioloop.aio_as_trio(asyncio.sleep)(3600)
    assert trio.current_time() - virtual >= 3600
    assert time.monotonic() - wall < 30
    assert trioloop_loop.time() == trio.current_time()


@pytest.mark.trio
async def test_asyncio_code_in_a_trio_test(
    trioloop_loop: trioloop.TrioEventLoop,
) -> None:
    async def asyncio_side() -> str:
        assert asyncio.get_running_loop() is trioloop_loop
        await asyncio.sleep(0.01)
        return "from asyncio"

    assert trioloop.current_loop() is trioloop_loop
    assert await trioloop.aio_as_trio(asyncio_side)() == "from asyncio"
