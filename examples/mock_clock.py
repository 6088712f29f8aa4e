"""Virtual time for asyncio code: Trio's ``MockClock`` drives asyncio timers.

In hosted mode the loop's clock *is* the Trio run's clock, so with
``trio.testing.MockClock(autojump_threshold=0)`` every asyncio timer -
``asyncio.sleep``, ``wait_for`` timeouts, ``loop.call_later`` - fires as soon
as everything is waiting, with no real waiting at all.  Handy in tests of
asyncio code with long timeouts.

Run it: ``python examples/mock_clock.py``.
"""

from __future__ import annotations

import asyncio
import time

import trio
import trio.testing

import trioloop


async def hourly_job(log: list[str]) -> None:
    """asyncio code with long sleeps and a timeout."""
    loop = asyncio.get_running_loop()
    loop.call_later(7200, log.append, "call_later(7200) fired")
    await asyncio.sleep(3600)
    log.append(f"slept an hour (loop.time() = {loop.time():.0f})")
    try:
        await asyncio.wait_for(asyncio.sleep(86400), timeout=1800)
    except asyncio.TimeoutError:
        log.append(
            f"wait_for timed out after 30 minutes (loop.time() = {loop.time():.0f})"
        )
    await asyncio.sleep(3600)


async def main() -> None:
    log: list[str] = []
    started = time.monotonic()
    async with trioloop.open_loop() as loop:
        print(
            f"loop.time() is trio.current_time(): {loop.time() == trio.current_time()}"
        )
        await trioloop.aio_as_trio(hourly_job)(log)
    for line in log:
        print(line)
    print(f"virtual time elapsed: {trio.current_time() / 3600:.1f} hours")
    print(f"real time elapsed under 5 s: {time.monotonic() - started < 5}")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
