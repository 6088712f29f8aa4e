"""The entry points, each on every flavour."""

from __future__ import annotations

import asyncio

import trio

import trioloop


def test_run_returns_result(run):
    async def main():
        await asyncio.sleep(0.001)
        return 42

    assert run(main()) == 42


def test_running_loop_is_ours(run, flavour):
    async def main():
        return type(asyncio.get_running_loop())

    loop_type = run(main())
    assert issubclass(loop_type, trioloop.TrioEventLoop) == flavour.startswith(
        "trioloop"
    )


def test_open_loop_inside_trio():
    async def trio_main():
        async with trioloop.open_loop() as loop:
            assert trioloop.current_loop() is loop

            async def aio_side(x):
                await asyncio.sleep(0)
                assert asyncio.get_running_loop() is loop
                return x * 2

            result = await trioloop.aio_as_trio(aio_side)(21)
        assert loop.is_closed()
        return result

    assert trio.run(trio_main) == 42
