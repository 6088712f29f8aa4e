"""Trio tasks and asyncio code side by side in one nursery; cancellation across.

Three scenes:

1. A Trio timeout cancels a nursery holding a Trio task and asyncio code.
   The asyncio side sees ``CancelledError`` and may still ``await`` while it
   cleans up; a ``contextvars`` value set in Trio is visible to it.
2. asyncio code times out while awaiting Trio code (``trio_as_aio``): the
   Trio side sees ``trio.Cancelled`` and finishes before asyncio goes on.
3. asyncio code raises: the exception reaches the Trio nursery with its
   traceback, and the nursery cancels the Trio siblings.

Run it: ``python examples/mixed_nursery.py``.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import traceback

import trio

import trioloop

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

request_id = contextvars.ContextVar("request_id", default="-")


async def trio_worker(name: str) -> None:
    """Trio code that runs until cancelled."""
    try:
        while True:
            await trio.sleep(0.01)
    except trio.Cancelled:
        print(f"  {name} (Trio): Cancelled")
        raise


async def asyncio_worker(name: str) -> None:
    """asyncio code that runs until cancelled, and cleans up asynchronously."""
    try:
        while True:
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        await asyncio.sleep(0.01)  # asyncio code may await while cleaning up
        print(
            f"  {name} (asyncio): CancelledError, cleaned up, request {request_id.get()}"
        )
        raise


async def trio_slow_step() -> None:
    try:
        await trio.sleep(30)
    except trio.Cancelled:
        print("  slow step (Trio): Cancelled")
        raise


async def asyncio_with_timeout() -> str:
    """asyncio code putting a timeout on Trio code."""
    try:
        await asyncio.wait_for(trioloop.trio_as_aio(trio_slow_step)(), timeout=0.05)
    except asyncio.TimeoutError:
        return "asyncio.wait_for timed out; the Trio side had already finished"
    return "not reached"


async def asyncio_failure() -> None:
    await asyncio.sleep(0.05)
    raise ValueError("bad data from the asyncio side")


async def aio_task(async_fn, *args) -> None:  # type: ignore[no-untyped-def]
    """A Trio task running asyncio code: ``nursery.start_soon`` wants an async
    function, and ``aio_as_trio(fn)`` returns a plain one (its calls are
    awaitable), so wrap it."""
    await trioloop.aio_as_trio(async_fn)(*args)


async def main() -> None:
    async with trioloop.open_loop():
        print("1. Trio cancels a mixed nursery")
        request_id.set("req-42")
        with trio.move_on_after(0.1):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio_worker, "ticker")
                nursery.start_soon(aio_task, asyncio_worker, "poller")

        print("2. asyncio cancels Trio")
        print("  " + await trioloop.aio_as_trio(asyncio_with_timeout)())

        print("3. an asyncio exception cancels its Trio siblings")
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio_worker, "ticker")
                nursery.start_soon(aio_task, asyncio_failure)
        except ExceptionGroup as group:
            error = group.exceptions[0]
            origin = traceback.extract_tb(error.__traceback__)[-1].name
            print(f"  nursery raised {error!r}, raised in {origin}()")


if __name__ == "__main__":
    trio.run(main)
