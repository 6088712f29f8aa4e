"""Which flavour of async code is running: the state both sides rely on.

asyncio code needs the thread's running loop set (Python 3.14 keeps it in C
thread state and will not step a task otherwise) and ``sniffio`` saying
``"asyncio"`` (anyio and httpx pick their backend from it).  Trio code needs
``sniffio`` saying ``"trio"``.  Whenever Trio-side code steps into asyncio
territory synchronously (creating a task that may start eagerly, resolving
a future), it does so inside :func:`asyncio_flavour`.
"""

from __future__ import annotations

from asyncio import AbstractEventLoop, events
from collections.abc import Iterator
from contextlib import contextmanager

import sniffio

__all__ = ["asyncio_flavour"]

_state = sniffio.thread_local


@contextmanager
def asyncio_flavour(loop: AbstractEventLoop) -> Iterator[None]:
    """Make ``loop`` the running loop and sniffio say asyncio, then restore."""
    prev_loop = events._get_running_loop()
    prev_library = _state.name
    events._set_running_loop(loop)
    _state.name = "asyncio"
    try:
        yield
    finally:
        _state.name = prev_library
        events._set_running_loop(prev_loop)
