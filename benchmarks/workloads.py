"""The workloads: what is measured, and the asyncio code that does it.

Each workload is a small ``async def`` that runs *inside* the event loop
under test and returns a result dict ``{"value": ..., "extra": {...}}``.
How that coroutine is started (``asyncio.run``, ``uvloop.run``,
``trio_asyncio.run``, ``trioloop.run``, ``asyncio.Runner(loop_factory=...)``)
is the worker's business (``_worker.py``), so the workload code is the same
for every implementation.

Loop micro-benchmarks run their body repeatedly for a time budget after one
warm-up call and report operations per second.  Network workloads put the
server under the measured loop and the client in another process
(``_client.py``), which does the timing.

This module only imports the standard library at the top: the runner imports
it for the registry, and a worker must not import ``trio_asyncio`` unless it
measures trio-asyncio (importing it patches asyncio's functions globally).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "_client.py")

#: Implementations, in display order.  ``trio`` is a pseudo-implementation:
#: plain Trio, the reference for the Trio -> asyncio bridge workload.
IMPLS = [
    "asyncio",
    "uvloop",
    "trio_asyncio",
    "trioloop",
    "trioloop_portable",
    "trioloop_sync",
]
LABELS = {
    "asyncio": "asyncio",
    "uvloop": "uvloop",
    "trio_asyncio": "trio-asyncio",
    "trioloop": "trioloop",
    "trioloop_portable": "trioloop (portable)",
    "trioloop_sync": "trioloop (sync)",
    "trio": "trio (sleep 0)",
}
#: Module each implementation needs (checked once by the runner).
IMPL_MODULES = {
    "asyncio": "asyncio",
    "uvloop": "uvloop",
    "trio_asyncio": "trio_asyncio",
    "trioloop": "trioloop",
    "trioloop_portable": "trioloop",
    "trioloop_sync": "trioloop",
    "trio": "trio",
}
BRIDGE_IMPLS = ("trio_asyncio", "trioloop", "trioloop_portable")


@dataclass(frozen=True)
class Workload:
    name: str
    group: str
    description: str
    unit: str = "ops/s"
    higher_is_better: bool = True
    baseline: str = "asyncio"
    impls: tuple[str, ...] = tuple(IMPLS)
    #: External programs (looked up on PATH) and modules the workload needs.
    needs_programs: tuple[str, ...] = ()
    needs_modules: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)


def _tcp(mode: str, conns: int, size: int) -> Workload:
    label = "64KiB" if size == 65536 else f"{size}B"
    return Workload(
        name=f"tcp_{mode}_{conns}c_{label}",
        group="tcp",
        description=(
            f"TCP echo, {'asyncio streams' if mode == 'streams' else 'a Protocol'} "
            f"server; {conns} client connection(s) in another process doing "
            f"ping-pong with {label} messages; round trips/s"
        ),
        unit="round trips/s",
        params={"mode": mode, "conns": conns, "size": size},
    )


WORKLOADS: list[Workload] = [
    Workload(
        "call_soon_chain",
        "loop",
        "a callback re-scheduling itself with call_soon",
        "callbacks/s",
        params={"n": 10_000},
    ),
    Workload(
        "call_soon_burst",
        "loop",
        "10k call_soon at once, then all of them run",
        "callbacks/s",
        params={"n": 10_000},
    ),
    Workload(
        "timers_fire",
        "loop",
        "5k call_later (0-1 ms), all fire",
        "timers/s",
        params={"n": 5_000},
    ),
    Workload(
        "timer_cancel",
        "loop",
        "timer churn: 100 call_later(10 s), one iteration, cancel all, one iteration",
        "timers/s",
        params={"n": 5_000},
    ),
    Workload(
        "create_task",
        "loop",
        "create_task(noop()) then await it, in sequence",
        "tasks/s",
        params={"n": 5_000},
    ),
    Workload(
        "gather",
        "loop",
        "gather of 1000 tasks that each sleep(0) once",
        "tasks/s",
        params={"n": 1_000},
    ),
    Workload(
        "sleep0_pingpong",
        "loop",
        "two tasks alternating with asyncio.sleep(0)",
        "switches/s",
        params={"n": 5_000},
    ),
    Workload(
        "queue",
        "loop",
        "asyncio.Queue(maxsize=100) producer -> consumer",
        "items/s",
        params={"n": 5_000},
    ),
    _tcp("streams", 1, 100),
    _tcp("streams", 50, 100),
    _tcp("streams", 1, 65536),
    _tcp("streams", 50, 65536),
    _tcp("protocol", 1, 100),
    _tcp("protocol", 50, 100),
    _tcp("protocol", 1, 65536),
    _tcp("protocol", 50, 65536),
    Workload(
        "udp_echo",
        "net",
        "UDP echo (DatagramProtocol) server; one client in another process doing ping-pong with 100 B datagrams",
        "round trips/s",
        params={"size": 100},
    ),
    Workload(
        "http_aiohttp",
        "net",
        "aiohttp hello-world server under `wrk -t1 -c50`",
        "requests/s",
        needs_programs=("wrk",),
        needs_modules=("aiohttp",),
    ),
    Workload(
        "bridge_aio_as_trio",
        "bridge",
        "from Trio: await aio_as_trio(noop)(); baseline: await trio.sleep(0) from Trio",
        "calls/s",
        baseline="trio",
        impls=("trio",) + BRIDGE_IMPLS,
    ),
    Workload(
        "bridge_trio_as_aio",
        "bridge",
        "from asyncio: await trio_as_aio(noop)(); baseline: await asyncio.sleep(0) on stock asyncio",
        "calls/s",
        impls=("asyncio",) + BRIDGE_IMPLS,
    ),
    Workload(
        "startup",
        "startup",
        "run(empty coroutine) with the implementation's run(): a fresh loop each time (imports excluded)",
        "runs/s",
    ),
    Workload(
        "idle_10k_rss",
        "memory",
        "peak RSS (VmHWM) of the server process holding 10k idle stream connections from another process",
        "MiB",
        higher_is_better=False,
        params={"n": 10_000},
    ),
]
BY_NAME = {w.name: w for w in WORKLOADS}


@dataclass
class Settings:
    """Scale knobs; ``quick`` is the CI smoke version."""

    quick: bool = False

    @property
    def budget(self) -> float:  # seconds of measurement per micro workload
        return 0.05 if self.quick else 0.3

    @property
    def net_duration(self) -> float:
        return 0.15 if self.quick else 0.4

    @property
    def net_warmup(self) -> float:
        return 0.05 if self.quick else 0.1

    @property
    def wrk_seconds(self) -> int:
        return 1 if self.quick else 2

    def scale(self, n: int) -> int:
        return max(1, n // 10) if self.quick else n

    @property
    def idle_conns(self) -> int:
        return 500 if self.quick else 10_000


# -- helpers -------------------------------------------------------------------


async def measure(body, n: int, budget: float, max_calls: int = 100_000) -> dict:
    """Warm up once, then call ``body(n)`` until ``budget`` seconds passed."""
    await body(max(1, n // 10))
    ops = calls = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    while True:
        ops += await body(n)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget or calls >= max_calls:
            break
    cpu = time.process_time() - cpu0
    # CPU time per operation is less disturbed by other processes on a
    # shared machine than the wall-clock throughput: reported alongside.
    return {
        "value": ops / elapsed,
        "extra": {
            "ops": ops,
            "seconds": round(elapsed, 4),
            "cpu_us_per_op": round(cpu * 1e6 / ops, 4),
        },
    }


def _client_cmd(args: list[str]) -> list[str]:
    cmd = [sys.executable, CLIENT, *args]
    cpu = os.environ.get("BENCH_CLIENT_CPU")
    if cpu:
        cmd = ["taskset", "-c", cpu, *cmd]
    return cmd


async def run_client(args: list[str], timeout: float = 120.0) -> dict:
    """Run ``_client.py`` in another process; wait for it without blocking
    the measured loop (poll every 50 ms); return its JSON result, plus the
    server process's CPU time per operation while the client ran."""
    cpu0 = time.process_time()
    # A plain Popen on purpose (here and below): the clients must not depend on
    # the measured loop's own subprocess support.
    proc = subprocess.Popen(  # noqa: ASYNC220
        _client_cmd(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"client {args} did not finish in {timeout} s")
            await asyncio.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(
            f"client {args} failed ({proc.returncode}): {err.decode()[-2000:]}"
        )
    res = json.loads(out.decode().strip().splitlines()[-1])
    if res.get("ops"):
        # Includes the warm-up and the client's start-up, so an upper bound.
        ops = res["ops"] + res.get("warmup_ops", 0)
        res["server_cpu_us_per_op"] = round((time.process_time() - cpu0) * 1e6 / ops, 2)
    return res


def _read_status(field_name: str) -> float:
    """A field of /proc/self/status in MiB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024.0
    raise KeyError(field_name)


def raise_nofile(wanted: int) -> int:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- loop micro-benchmarks ---------------------------------------------------------


async def call_soon_chain(n: int) -> int:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0

    def step() -> None:
        nonlocal count
        count += 1
        if count < n:
            loop.call_soon(step)
        else:
            done.set_result(None)

    loop.call_soon(step)
    await done
    return n


async def call_soon_burst(n: int) -> int:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    left = n

    def step() -> None:
        nonlocal left
        left -= 1
        if not left:
            done.set_result(None)

    call_soon = loop.call_soon
    for _ in range(n):
        call_soon(step)
    await done
    return n


async def timers_fire(n: int) -> int:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0

    def fired() -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)

    call_later = loop.call_later
    for i in range(n):
        call_later((i % 100) * 1e-5, fired)
    await done
    return n


def _never() -> None:  # pragma: no cover - cancelled before it runs
    raise AssertionError("cancelled timer ran")


async def timer_cancel(n: int) -> int:
    loop = asyncio.get_running_loop()
    call_later = loop.call_later
    rounds = max(1, n // 100)
    for _ in range(rounds):
        handles = [call_later(10.0, _never) for _ in range(100)]
        await asyncio.sleep(0)
        for h in handles:
            h.cancel()
        await asyncio.sleep(0)
    return rounds * 100


async def _noop() -> None:
    pass


async def _sleep0() -> None:
    await asyncio.sleep(0)


async def create_task(n: int) -> int:
    create = asyncio.get_running_loop().create_task
    for _ in range(n):
        await create(_noop())
    return n


async def gather(n: int) -> int:
    await asyncio.gather(*[_sleep0() for _ in range(n)])
    return n


async def sleep0_pingpong(n: int) -> int:
    async def spin() -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    await asyncio.gather(spin(), spin())
    return 2 * n


async def queue(n: int) -> int:
    q: asyncio.Queue[int] = asyncio.Queue(maxsize=100)

    async def produce() -> None:
        for i in range(n):
            await q.put(i)

    async def consume() -> None:
        for _ in range(n):
            await q.get()

    await asyncio.gather(produce(), consume())
    return n


MICRO = {
    "call_soon_chain": call_soon_chain,
    "call_soon_burst": call_soon_burst,
    "timers_fire": timers_fire,
    "timer_cancel": timer_cancel,
    "create_task": create_task,
    "gather": gather,
    "sleep0_pingpong": sleep0_pingpong,
    "queue": queue,
}


# -- network servers ------------------------------------------------------------------


async def _echo_stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class _EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # (selector transports set TCP_NODELAY)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


class _EchoDatagram(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


async def tcp_echo(s: Settings, mode: str, conns: int, size: int) -> dict:
    loop = asyncio.get_running_loop()
    if mode == "streams":
        server = await asyncio.start_server(_echo_stream, "127.0.0.1", 0, backlog=1024)
    else:
        server = await loop.create_server(_EchoProtocol, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    try:
        res = await run_client(
            ["tcp", "--port", str(port), "--conns", str(conns), "--size", str(size),
             "--duration", str(s.net_duration), "--warmup", str(s.net_warmup)]
        )  # fmt: skip
    finally:
        server.close()
        await server.wait_closed()
    return {"value": res["ops"] / res["seconds"], "extra": res}


async def udp_echo(s: Settings, size: int) -> dict:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        _EchoDatagram, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        res = await run_client(
            ["udp", "--port", str(port), "--size", str(size),
             "--duration", str(s.net_duration), "--warmup", str(s.net_warmup)]
        )  # fmt: skip
    finally:
        transport.close()
    return {"value": res["ops"] / res["seconds"], "extra": res}


_WRK_RPS = re.compile(r"Requests/sec:\s*([0-9.]+)")


async def http_aiohttp(s: Settings) -> dict:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="Hello, World!")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        proc = subprocess.Popen(  # noqa: ASYNC220
            ["wrk", "-t1", "-c50", f"-d{s.wrk_seconds}s", f"http://127.0.0.1:{port}/"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + s.wrk_seconds + 30
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError("wrk did not finish")
            await asyncio.sleep(0.05)
        out, err = proc.communicate()
    finally:
        await runner.cleanup()
    text = out.decode()
    m = _WRK_RPS.search(text)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text} {err.decode()}")
    errors = re.search(r"Socket errors:.*", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "value": float(m.group(1)),
        "extra": {
            "socket_errors": errors.group(0) if errors else None,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        },
    }


async def idle_rss(s: Settings) -> dict:
    n = s.idle_conns
    raise_nofile(n + 1024)
    loop = asyncio.get_running_loop()
    accepted = closed = 0
    all_in = loop.create_future()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted, closed
        accepted += 1
        if accepted == n and not all_in.done():
            all_in.set_result(None)
        try:
            await reader.read()
        except ConnectionError:
            pass
        finally:
            writer.close()
            closed += 1

    server = await asyncio.start_server(hold, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    gc.collect()
    base = _read_status("VmRSS")
    proc = subprocess.Popen(  # noqa: ASYNC220
        _client_cmd(["idle", "--port", str(port), "--conns", str(n)]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    start = time.perf_counter()
    try:
        deadline = time.monotonic() + 90
        while not all_in.done():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"idle client died: {proc.stderr.read().decode()[-2000:]}"
                )  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {accepted} of {n} connections accepted")
            await asyncio.sleep(0.02)
        accept_seconds = time.perf_counter() - start
        await asyncio.sleep(0.2)  # let every handler reach its read()
        gc.collect()
        held = _read_status("VmRSS")
        peak = _read_status("VmHWM")
    finally:
        proc.stdin.close()  # type: ignore[union-attr]  # the client closes all
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        while closed < accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        server.close()
        await server.wait_closed()
    return {
        "value": peak,
        "extra": {
            "rss_before_mib": round(base, 2),
            "rss_holding_mib": round(held, 2),
            "kib_per_conn": round((held - base) * 1024 / n, 3),
            "accept_seconds": round(accept_seconds, 3),
            "conns": n,
        },
    }


async def run_loop_workload(w: Workload, s: Settings) -> dict:
    """The coroutine the worker runs under the implementation's loop."""
    if w.name in MICRO:
        return await measure(MICRO[w.name], s.scale(w.params["n"]), s.budget)
    if w.group == "tcp":
        return await tcp_echo(s, w.params["mode"], w.params["conns"], w.params["size"])
    if w.name == "udp_echo":
        return await udp_echo(s, w.params["size"])
    if w.name == "http_aiohttp":
        return await http_aiohttp(s)
    if w.name == "idle_10k_rss":
        return await idle_rss(s)
    raise KeyError(w.name)
