"""``trioloop.run``: the one-liner, like ``asyncio.run`` but on Trio.

The main coroutine runs as an asyncio task on a loop hosted by a fresh
``trio.run``.  Ctrl-C behaves as with ``asyncio.run`` on Python 3.11+: the
first SIGINT cancels the main task and, once it has finished cleaning up,
``KeyboardInterrupt`` is raised; a second SIGINT raises at once.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import trio

from ._bridge import spawn_aio, wait_future
from ._hosted import open_loop

__all__ = ["run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """Run coroutine ``main`` on a Trio-hosted asyncio loop and return its result."""
    if asyncio.events._get_running_loop() is not None:
        raise RuntimeError("trioloop.run() cannot be called from a running event loop")
    if trio.lowlevel.in_trio_run():
        raise RuntimeError(
            "trioloop.run() cannot be called inside trio.run(); use "
            "'async with trioloop.open_loop():' and trioloop.aio_as_trio() instead"
        )
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    return trio.run(_run_main, main, debug)


async def _run_main(main: Coroutine[Any, Any, T], debug: bool | None) -> T:
    async with open_loop(debug=debug) as loop:
        task = spawn_aio(loop, main, eager=False)  # as asyncio.run does
        interrupts = 0

        def on_sigint(signum: int, frame: object) -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts == 1 and not task.done():
                loop.call_soon_threadsafe(task.cancel)
                return
            raise KeyboardInterrupt()

        own_sigint = (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        )
        if own_sigint:
            signal.signal(signal.SIGINT, on_sigint)
        try:
            return await wait_future(task)
        except asyncio.CancelledError:
            if interrupts:
                raise KeyboardInterrupt() from None
            raise
        finally:
            if own_sigint and signal.getsignal(signal.SIGINT) is on_sigint:
                signal.signal(signal.SIGINT, signal.default_int_handler)
