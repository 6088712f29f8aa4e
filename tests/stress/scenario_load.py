"""Load: an asyncio streams echo server holding thousands of connections.

The server runs here, on the loop under test; the clients run in another
process (``_clients.py``, stock asyncio), started through the loop's own
subprocess support.  Figures: connections held, bytes lost or corrupted
(must be zero), echo throughput, and the server's memory per connection:
idle (RSS growth from ``warm`` to all connections open, divided by the
connections added) and peak during traffic (VmHWM above the warm RSS).

Quick: 2,000 connections x 32 KiB.  Full: 10,000 connections x 64 KiB.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from typing import Any

from . import _harness as H
from ._echo import EchoStats, check_summary, echo_handler

SIZES = {
    "quick": {"conns": 2000, "warm": 100, "bytes": 32768},
    "full": {"conns": 10000, "warm": 200, "bytes": 65536},
}
#: Seconds each phase may take before the scenario gives up on it.
PHASE_LIMIT = {"quick": 60.0, "full": 150.0}


async def serve_and_measure(mode: str, out: H.Outcome) -> None:
    size = SIZES[mode]
    limit = PHASE_LIMIT[mode]
    stats = EchoStats()
    server = await asyncio.start_server(echo_handler(stats), H.HOST, 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.stress._clients", "--port", str(port),
        "--conns", str(size["conns"]), "--warm", str(size["warm"]), "--bytes", str(size["bytes"]),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert client.stdin is not None and client.stdout is not None

    async def expect(word: str) -> str:
        assert client.stdout is not None
        line = (await asyncio.wait_for(client.stdout.readline(), limit)).decode()
        if not line.startswith(word):
            raise AssertionError(f"client said {line!r}, expected {word}")
        return line[len(word) :].strip()

    try:
        await expect("WARM")
        gc.collect()
        rss_warm = H.rss()
        warm_active = stats.active
        client.stdin.write(b"next\n")
        held, failed, connect_s = (await expect("CONNECTED")).split()
        gc.collect()
        rss_held = H.rss()
        out.figures.update(
            conns=int(held),
            connect_failures=int(failed),
            connect_s=float(connect_s),
            server_active_at_peak=stats.active,
            idle_kib_per_conn=(rss_held - rss_warm)
            / max(1, stats.active - warm_active)
            / 1024,
        )
        client.stdin.write(b"go\n")
        result: dict[str, Any] = json.loads(await expect("RESULT"))
        out.figures.update(result)
        out.figures["peak_kib_per_conn"] = (
            (H.peak_rss() - rss_warm) / max(1, int(held)) / 1024
        )
        out.figures["peak_rss_mb"] = H.peak_rss() / 2**20
        out.figures["mb_per_s"] = (
            result["bytes_ok"] / 1e6 / max(result["traffic_seconds"], 1e-9)
        )
        await asyncio.wait_for(client.wait(), limit)
    finally:
        if client.returncode is None:
            client.kill()
            await client.wait()
        server.close()
        await asyncio.wait_for(server.wait_closed(), limit)
    out.figures["server_errors"] = stats.errors
    out.figures["server_bytes"] = stats.bytes
    check_summary(out, int(held), size["conns"])
    out.check(
        out.figures["bytes_sent"] == size["conns"] * size["bytes"],
        "not every byte was sent",
    )
    out.check(
        stats.finished == stats.started, f"{stats.active} server handlers still running"
    )


def scenario(impl: str, mode: str) -> H.Outcome:
    out = H.Outcome()
    out.figures["nofile_limit"] = H.raise_nofile()
    with H.LogCapture() as log:
        H.run_on(impl, serve_and_measure(mode, out))
    out.figures["logged"] = log.messages()[:10]
    out.check(not log.records, f"asyncio logged: {log.messages()[:5]}")
    return out


if __name__ == "__main__":
    H.main(scenario)
