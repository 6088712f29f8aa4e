"""The echo service and its checking clients, shared by the load, mixed and
soak scenarios.

Server side: an ``asyncio.start_server`` handler that echoes until EOF and
counts what it saw.  Client side (stock-asyncio code, also run on the loop
under test in the in-process scenarios): a connection that sends random data
in random chunk sizes and checks the echo byte for byte against what it
sent, keeping only the bytes still in flight.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._harness import Outcome

__all__ = [
    "EchoStats",
    "Exchange",
    "POOL",
    "chunks",
    "echo_handler",
    "check_summary",
    "exchange_asyncio",
    "handshake",
    "summarize",
]

#: Random bytes that chunks are cut from (at random offsets): random enough
#: to catch reordered, duplicated or dropped bytes, cheap to produce.
POOL = os.urandom(1 << 20)

#: The one byte each client sends first and waits to see echoed: after it,
#: the server's handler for that connection is known to be running.
HELLO = b"\x01"


@dataclass
class EchoStats:
    started: int = 0
    finished: int = 0
    bytes: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def active(self) -> int:
        return self.started - self.finished


def echo_handler(stats: EchoStats, read_size: int = 65536) -> Any:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats.started += 1
        try:
            while True:
                data = await reader.read(read_size)
                if not data:
                    break
                stats.bytes += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, TimeoutError) as exc:
            name = type(exc).__name__
            stats.errors[name] = stats.errors.get(name, 0) + 1
        finally:
            stats.finished += 1
            writer.close()

    return echo


def chunk_sizes(rng: random.Random, total: int, largest: int) -> list[int]:
    """Random chunk sizes adding up to ``total``: log-uniform, so tiny and
    large writes both occur."""
    sizes = []
    left = total
    top = largest.bit_length() - 1
    while left > 0:
        n = min(left, max(1, int(2 ** rng.uniform(0, top))))
        sizes.append(n)
        left -= n
    return sizes


def chunks(rng: random.Random, total: int, largest: int) -> Iterator[bytes]:
    """Random data in random chunk sizes, made as it is sent."""
    for n in chunk_sizes(rng, total, largest):
        offset = rng.randrange(len(POOL) - n + 1)
        yield POOL[offset : offset + n]


class Exchange:
    """Checks one connection's echo: what came back must be what was sent.

    ``sent(data)`` before writing; ``received(data)`` for each read;
    ``finish()`` at EOF.  Figures: ``ok`` bytes, ``lost`` bytes (sent, never
    echoed), ``corrupted`` reads (the first mismatch is kept).
    """

    __slots__ = ("pending", "ok", "corrupted", "first_mismatch", "sent_total")

    def __init__(self) -> None:
        self.pending = bytearray()
        self.ok = 0
        self.corrupted = 0
        self.first_mismatch: int | None = None
        self.sent_total = 0

    def sent(self, data: bytes) -> None:
        self.pending += data
        self.sent_total += len(data)

    def received(self, data: bytes) -> None:
        n = len(data)
        if self.pending[:n] != data:
            self.corrupted += 1
            if self.first_mismatch is None:
                expected = bytes(self.pending[:n])
                at = next(
                    (i for i in range(min(n, len(expected))) if expected[i] != data[i]),
                    len(expected),
                )
                self.first_mismatch = self.ok + at
        del self.pending[:n]
        self.ok += n

    @property
    def lost(self) -> int:
        return len(self.pending)


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(HELLO)
    await writer.drain()
    got = await reader.readexactly(1)
    if got != HELLO:
        raise AssertionError(f"handshake echoed {got!r}")


async def exchange_asyncio(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    payload: Iterable[bytes],
) -> Exchange:
    """Send ``payload`` (then EOF) while reading the echo; check it."""
    check = Exchange()

    async def send() -> None:
        for chunk in payload:
            check.sent(chunk)
            writer.write(chunk)
            await writer.drain()
        writer.write_eof()

    sender = asyncio.ensure_future(send())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            check.received(data)
        await sender
    finally:
        sender.cancel()
        writer.close()
    return check


def summarize(checks: list[Exchange | BaseException]) -> dict[str, Any]:
    done = [c for c in checks if isinstance(c, Exchange)]
    failures: dict[str, int] = {}
    for c in checks:
        if not isinstance(c, Exchange):
            failures[type(c).__name__] = failures.get(type(c).__name__, 0) + 1
    return {
        "conns_checked": len(done),
        "bytes_sent": sum(c.sent_total for c in done),
        "bytes_ok": sum(c.ok for c in done),
        "bytes_lost": sum(c.lost for c in done),
        "corrupted_reads": sum(c.corrupted for c in done),
        "first_mismatch": next(
            (c.first_mismatch for c in done if c.first_mismatch is not None), None
        ),
        "client_errors": failures,
    }


def check_summary(out: Outcome, held: int, conns: int) -> None:
    """What every echo load checks of ``summarize``'s figures (in
    ``out.figures``): all connections held, no byte lost or corrupted, no
    client error."""
    out.check(held == conns, f"held {held} of {conns} connections")
    out.check(out.figures["bytes_lost"] == 0, f"{out.figures['bytes_lost']} bytes lost")
    out.check(
        out.figures["corrupted_reads"] == 0,
        f"{out.figures['corrupted_reads']} corrupted reads",
    )
    out.check(
        not out.figures["client_errors"],
        f"client errors {out.figures['client_errors']}",
    )
