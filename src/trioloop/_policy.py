"""Legacy policy support, for code that still calls ``asyncio.run(main())``
without ``loop_factory`` (Python 3.10/3.11).

asyncio deprecates policies from 3.14 (removal in 3.16).  ``run``,
``new_event_loop`` and ``open_loop`` never touch them; only ``install()`` and
``EventLoopPolicy`` do, and on 3.14+ asyncio itself warns when they are used.
"""

from __future__ import annotations

import asyncio
from asyncio import events

from ._loop import TrioEventLoop

__all__ = ["EventLoopPolicy", "install"]

_BasePolicy: type = getattr(events, "_BaseDefaultEventLoopPolicy", None) or getattr(
    events, "BaseDefaultEventLoopPolicy"
)


class EventLoopPolicy(_BasePolicy):  # type: ignore[misc]
    """An asyncio event loop policy whose loops are ``TrioEventLoop``s."""

    _loop_factory = TrioEventLoop


def install() -> None:
    """Make ``asyncio.run()`` and ``asyncio.new_event_loop()`` use trioloop."""
    set_policy = getattr(asyncio, "set_event_loop_policy")
    set_policy(EventLoopPolicy())
