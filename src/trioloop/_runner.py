"""``trioloop.run``: the one-liner, like ``asyncio.run`` but on Trio.

The main coroutine runs as an asyncio task on a loop hosted by a fresh
``trio.run``.  Ctrl-C behaves as with ``asyncio.run`` on Python 3.11+: the
first SIGINT cancels the main task and, once it has finished cleaning up,
``KeyboardInterrupt`` is raised; a second SIGINT raises at once.  (Our SIGINT
handler is installed before ``trio.run`` starts, so Trio leaves SIGINT to it.)
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import trio

from ._bridge import spawn_aio, wait_future
from ._hosted import open_loop

__all__ = ["run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """Run coroutine ``main`` on a Trio-hosted asyncio loop and return its result."""
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    if asyncio.events._get_running_loop() is not None:
        main.close()
        raise RuntimeError("trioloop.run() cannot be called from a running event loop")
    if trio.lowlevel.in_trio_run():
        main.close()
        raise RuntimeError(
            "trioloop.run() cannot be called inside trio.run(); use "
            "'async with trioloop.open_loop():' and trioloop.aio_as_trio() instead"
        )
    interrupt = _CancelOnInterrupt()
    with interrupt.installed():
        return trio.run(_run_main, main, debug, interrupt)


class _CancelOnInterrupt:
    """SIGINT handling of ``asyncio.Runner``: cancel the main task first."""

    def __init__(self) -> None:
        self.count = 0
        self.main: asyncio.Future[Any] | None = None

    def handler(self, signum: int, frame: object) -> None:
        self.count += 1
        main = self.main
        if self.count == 1 and main is not None and not main.done():
            main.get_loop().call_soon_threadsafe(main.cancel)
            return
        raise KeyboardInterrupt()

    @contextmanager
    def installed(self) -> Iterator[None]:
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            yield
            return
        signal.signal(signal.SIGINT, self.handler)
        try:
            yield
        finally:
            if signal.getsignal(signal.SIGINT) == self.handler:
                signal.signal(signal.SIGINT, signal.default_int_handler)


async def _run_main(
    main: Coroutine[Any, Any, T], debug: bool | None, interrupt: _CancelOnInterrupt
) -> T:
    async with open_loop(debug=debug) as loop:
        task = spawn_aio(loop, main, eager=False)  # as asyncio.run does
        interrupt.main = task
        try:
            return await wait_future(task)
        except asyncio.CancelledError:
            if interrupt.count:
                raise KeyboardInterrupt() from None
            raise
        except RuntimeError as exc:
            if loop._trio.broken is None or exc.__cause__ is not loop._trio.broken:
                raise
            # Only the echo of the loop's own failure, which comes out of
            # open_loop by itself (as asyncio.run raises it).
    raise AssertionError("unreachable: the loop's failure propagates")
