"""Windows: asyncio's selector loop as it is there.

asyncio's ``WindowsSelectorEventLoop`` has no subprocesses, no pipes and no
signal handlers: those raise ``NotImplementedError``, and so they do here
(inherited, unchanged).  asyncio's other Windows loop, the Proactor
(IOCP completions rather than readiness), is not hosted by trioloop: its
transports are a different design, and Trio already owns the thread's I/O
completion port.  Sockets work through the portable driver (Trio's Windows
I/O manager waits on sockets only, as asyncio's ``select`` does).
"""

from __future__ import annotations

import asyncio

__all__ = ["PlatformEventLoop"]


class PlatformEventLoop(asyncio.SelectorEventLoop):
    """asyncio's Windows selector loop; ``TrioEventLoop`` adds what every
    platform shares."""
