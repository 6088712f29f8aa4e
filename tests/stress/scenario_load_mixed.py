"""Load, mixed-application shape: asyncio server and Trio clients in one run.

On trioloop the server is asyncio code (``asyncio.start_server``, streams)
on a loop opened with ``trioloop.open_loop()`` inside ``trio.run``, and the
clients are Trio tasks (``trio.open_tcp_stream``) in the same run - the shape
of a Trio application that embeds an asyncio library.  The reference is the
same server with the same number of asyncio client tasks under
``asyncio.run``: the same work in one process on one thread.

Each client checks its echo byte for byte.  Quick: 1,000 connections (2,000
sockets in the process) x 32 KiB; full: 4,000 x 64 KiB.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time

import trio

import trioloop

from . import _harness as H
from ._echo import (
    HELLO,
    EchoStats,
    Exchange,
    check_summary,
    chunks,
    echo_handler,
    exchange_asyncio,
    handshake,
    summarize,
)

SIZES = {
    "quick": {"conns": 1000, "bytes": 32768},
    "full": {"conns": 4000, "bytes": 65536},
}
PARALLEL_CONNECTS = 200


async def trio_client(
    port: int,
    seed: int,
    total: int,
    limiter: trio.CapacityLimiter,
    connected: list[int],
    go: trio.Event,
) -> Exchange:
    async with limiter:  # bounds concurrent connects only
        stream = await trio.open_tcp_stream(H.HOST, port)
        await stream.send_all(HELLO)
        if await stream.receive_some(1) != HELLO:
            raise AssertionError("bad handshake")
    async with stream:
        connected[0] += 1
        await go.wait()
        check = Exchange()

        async def send() -> None:
            for chunk in chunks(random.Random(seed), total, 16384):
                check.sent(chunk)
                await stream.send_all(chunk)
            await stream.send_eof()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            while data := await stream.receive_some(65536):
                check.received(bytes(data))
        return check


async def on_trioloop(size: dict[str, int], out: H.Outcome) -> None:
    stats = EchoStats()
    conns = size["conns"]
    async with trioloop.open_loop():
        server = await trioloop.aio_as_trio(asyncio.start_server)(
            echo_handler(stats), H.HOST, 0, backlog=4096
        )
        port = server.sockets[0].getsockname()[1]
        connected = [0]
        go = trio.Event()
        checks: list[Exchange | BaseException] = []
        limiter = trio.CapacityLimiter(PARALLEL_CONNECTS)

        async def one(i: int) -> None:
            try:
                checks.append(
                    await trio_client(port, i, size["bytes"], limiter, connected, go)
                )
            except Exception as exc:
                checks.append(exc)

        start = time.monotonic()
        async with trio.open_nursery() as nursery:
            for i in range(conns):
                nursery.start_soon(one, i)
            with trio.move_on_after(120):
                while connected[0] + len(checks) < conns:
                    await trio.sleep(0.01)
            out.figures["connect_s"] = time.monotonic() - start
            gc.collect()
            out.figures["rss_held_mb"] = H.rss() / 2**20
            start = time.monotonic()
            go.set()
        out.figures["traffic_seconds"] = time.monotonic() - start
        server.close()
        await trioloop.aio_as_trio(server.wait_closed)()
    out.figures.update(summarize(checks))
    out.figures["server_errors"] = stats.errors
    out.figures["conns"] = connected[0]


async def on_asyncio(size: dict[str, int], out: H.Outcome) -> None:
    stats = EchoStats()
    conns = size["conns"]
    server = await asyncio.start_server(echo_handler(stats), H.HOST, 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    connected = [0]
    go = asyncio.Event()
    semaphore = asyncio.Semaphore(PARALLEL_CONNECTS)

    async def one(i: int) -> Exchange:
        async with semaphore:
            reader, writer = await asyncio.open_connection(H.HOST, port)
            await handshake(reader, writer)
        connected[0] += 1
        await go.wait()
        return await exchange_asyncio(
            reader, writer, chunks(random.Random(i), size["bytes"], 16384)
        )

    start = time.monotonic()
    tasks = [asyncio.ensure_future(one(i)) for i in range(conns)]
    deadline = time.monotonic() + 120
    while (
        connected[0] + sum(t.done() for t in tasks) < conns
        and time.monotonic() < deadline
    ):
        await asyncio.sleep(0.01)
    out.figures["connect_s"] = time.monotonic() - start
    gc.collect()
    out.figures["rss_held_mb"] = H.rss() / 2**20
    start = time.monotonic()
    go.set()
    checks = await asyncio.gather(*tasks, return_exceptions=True)
    out.figures["traffic_seconds"] = time.monotonic() - start
    server.close()
    await server.wait_closed()
    out.figures.update(summarize(checks))
    out.figures["server_errors"] = stats.errors
    out.figures["conns"] = connected[0]


def scenario(impl: str, mode: str) -> H.Outcome:
    out = H.Outcome()
    size = SIZES[mode]
    H.raise_nofile()
    with H.LogCapture() as log:
        if impl == "trioloop":
            trio.run(on_trioloop, size, out)
        else:
            asyncio.run(on_asyncio(size, out))
    out.figures["peak_rss_mb"] = H.peak_rss() / 2**20
    out.figures["mb_per_s"] = (
        out.figures["bytes_ok"] / 1e6 / max(out.figures["traffic_seconds"], 1e-9)
    )
    check_summary(out, out.figures["conns"], size["conns"])
    out.check(not log.records, f"asyncio logged: {log.messages()[:5]}")
    return out


if __name__ == "__main__":
    H.main(scenario)
