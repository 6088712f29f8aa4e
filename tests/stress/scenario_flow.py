"""Flow control and memory, both directions, with checksums.

* Write side: a handler writes as fast as ``drain()`` lets it to a peer that
  reads at a fixed, slower rate.  The transport's write buffer must stay
  near the high-water mark (at most high-water + one write) and the
  process's memory flat while the bytes pass.
* Read side: a peer writes as fast as it can to a handler that reads slowly
  through a ``StreamReader``; the reader's buffer must stay bounded (the
  transport pauses reading) and memory flat.

Both ends hash what they sent and received: the digests must match.
Quick: 100 MB each way; full: 400 MB each way.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sys
from typing import Any

from . import _harness as H
from ._echo import POOL

MEGABYTES = {"quick": 100, "full": 400}
WRITE_CHUNK = 65536
READ_CHUNK = 65536
SAMPLE_EVERY = 0.02


class Sampler:
    """Samples RSS and a buffer size every few milliseconds while running."""

    def __init__(self, buffer_size: Any) -> None:
        self.buffer_size = buffer_size
        self.max_buffer = 0
        self.rss: list[int] = []
        self.progress: list[float] = []
        self.done = 0.0  # fraction of the bytes through, set by the user

    async def run(self) -> None:
        while True:
            self.max_buffer = max(self.max_buffer, self.buffer_size())
            self.rss.append(H.rss())
            self.progress.append(self.done)
            await asyncio.sleep(SAMPLE_EVERY)

    def rss_growth(self) -> int:
        """RSS growth from 10% of the transfer to its end."""
        after = [r for r, p in zip(self.rss, self.progress, strict=True) if p >= 0.1]
        return max(after) - after[0] if after else 0


async def peer(*args: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.stress._peer",
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(proc.communicate(), 240)
    return (
        json.loads(stdout)
        if proc.returncode == 0
        else {"error": f"peer exit {proc.returncode}"}
    )


async def write_side(total: int, out: H.Outcome) -> None:
    done = asyncio.get_running_loop().create_future()

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        transport = writer.transport
        high = transport.get_write_buffer_limits()[1]
        sampler = Sampler(transport.get_write_buffer_size)
        sampling = asyncio.ensure_future(sampler.run())
        digest = hashlib.sha256()
        rng = random.Random(2)
        sent = max_after_write = 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            while sent < total:
                n = min(WRITE_CHUNK, total - sent)
                offset = rng.randrange(len(POOL) - n + 1)
                chunk = POOL[offset : offset + n]
                digest.update(chunk)
                writer.write(chunk)
                sent += n
                sampler.done = sent / total
                max_after_write = max(
                    max_after_write, transport.get_write_buffer_size()
                )
                await writer.drain()
            seconds = loop.time() - start
            writer.close()
            await writer.wait_closed()
        finally:
            sampling.cancel()
        done.set_result(
            {
                "sha256": digest.hexdigest(),
                "bytes": sent,
                "high_water": high,
                "max_buffer": max(max_after_write, sampler.max_buffer),
                "rss_growth": sampler.rss_growth(),
                "seconds": seconds,
            }
        )

    server = await asyncio.start_server(handler, H.HOST, 0)
    port = server.sockets[0].getsockname()[1]
    got = await peer(
        "slow-reader", "--port", str(port), "--bytes", str(total), "--rate", "80"
    )
    mine = await asyncio.wait_for(done, 30)
    server.close()
    await server.wait_closed()
    out.figures.update(
        write_sum_ok=got.get("sha256") == mine["sha256"] and got.get("bytes") == total,
        write_buffer_max_kib=mine["max_buffer"] / 1024,
        write_high_water_kib=mine["high_water"] / 1024,
        write_rss_growth_mb=mine["rss_growth"] / 2**20,
        write_mb_per_s=total / 1e6 / mine["seconds"],
    )
    out.check(
        out.figures["write_sum_ok"],
        f"write side: peer got {got}, sent {mine['sha256']}",
    )
    out.check(
        mine["max_buffer"] <= mine["high_water"] + WRITE_CHUNK,
        f"write buffer reached {mine['max_buffer']} bytes (high water {mine['high_water']})",
    )


async def read_side(total: int, out: H.Outcome) -> None:
    done = asyncio.get_running_loop().create_future()

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        sampler = Sampler(lambda: len(reader._buffer))  # type: ignore[attr-defined]
        sampling = asyncio.ensure_future(sampler.run())
        digest = hashlib.sha256()
        got = 0
        try:
            while data := await reader.read(READ_CHUNK):
                digest.update(data)
                got += len(data)
                sampler.done = got / total
                sampler.max_buffer = max(sampler.max_buffer, len(reader._buffer))  # type: ignore[attr-defined]
                await asyncio.sleep(0.0002)  # the slow application
            writer.close()
            await writer.wait_closed()
        finally:
            sampling.cancel()
        done.set_result(
            {
                "sha256": digest.hexdigest(),
                "bytes": got,
                "max_buffer": sampler.max_buffer,
                "rss_growth": sampler.rss_growth(),
            }
        )

    server = await asyncio.start_server(handler, H.HOST, 0)
    port = server.sockets[0].getsockname()[1]
    sent = await peer("fast-writer", "--port", str(port), "--bytes", str(total))
    mine = await asyncio.wait_for(done, 30)
    server.close()
    await server.wait_closed()
    out.figures.update(
        read_sum_ok=sent.get("sha256") == mine["sha256"] and mine["bytes"] == total,
        read_buffer_max_kib=mine["max_buffer"] / 1024,
        read_rss_growth_mb=mine["rss_growth"] / 2**20,
    )
    out.check(out.figures["read_sum_ok"], f"read side: peer sent {sent}, got {mine}")
    # StreamReader pauses the transport above 2 x limit (64 KiB); one more
    # recv (at most 256 KiB) may land before the pause takes effect.
    out.check(
        mine["max_buffer"] <= 2 * 65536 + 262144,
        f"read buffer reached {mine['max_buffer']}",
    )


async def both(total: int, out: H.Outcome) -> None:
    await write_side(total, out)
    await read_side(total, out)


def scenario(impl: str, mode: str) -> H.Outcome:
    out = H.Outcome()
    total = MEGABYTES[mode] * 10**6
    out.figures["mb"] = MEGABYTES[mode]
    with H.LogCapture() as log:
        H.run_on(impl, both(total, out))
    out.figures["checksums_ok"] = out.figures.get("write_sum_ok") and out.figures.get(
        "read_sum_ok"
    )
    out.figures["rss_growth_mb"] = max(
        out.figures["write_rss_growth_mb"], out.figures["read_rss_growth_mb"]
    )
    out.check(
        out.figures["rss_growth_mb"] < 8,
        f"memory grew {out.figures['rss_growth_mb']:.1f} MB",
    )
    out.check(not log.records, f"asyncio logged: {log.messages()[:5]}")
    return out


if __name__ == "__main__":
    H.main(scenario)
