"""Legacy policy support, for code that still calls ``asyncio.run(main())``
without ``loop_factory`` (Python 3.10/3.11).

asyncio deprecates policies from 3.14 (removal in 3.16).  ``run``,
``new_event_loop`` and ``open_loop`` never touch them.  ``EventLoopPolicy``
and ``install()`` do, and on 3.14+ they warn as asyncio's own policy API
does, pointing at the caller.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from asyncio import events

from ._loop import TrioEventLoop

__all__ = ["EventLoopPolicy", "install"]

_POLICIES_DEPRECATED = sys.version_info >= (3, 14)

_BasePolicy: type = (
    getattr(events, "_BaseDefaultEventLoopPolicy", None)
    or events.BaseDefaultEventLoopPolicy
)


def _warn_deprecated(what: str) -> None:
    warnings.warn(
        f"{what} is deprecated with asyncio's policy system (removed in Python "
        "3.16); use loop_factory=trioloop.new_event_loop or trioloop.run()",
        DeprecationWarning,
        stacklevel=3,
    )


class EventLoopPolicy(_BasePolicy):  # type: ignore[misc]
    """An asyncio event loop policy whose loops are ``TrioEventLoop`` instances."""

    _loop_factory = TrioEventLoop

    def __init__(self) -> None:
        if _POLICIES_DEPRECATED:
            _warn_deprecated("trioloop.EventLoopPolicy")
        super().__init__()


def install() -> None:
    """Make ``asyncio.run()`` and ``asyncio.new_event_loop()`` use trioloop."""
    if _POLICIES_DEPRECATED:
        _warn_deprecated("trioloop.install()")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # warned above
        policy = EventLoopPolicy()
        asyncio.set_event_loop_policy(policy)
