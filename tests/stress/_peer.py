"""Peers for the flow and fault scenarios: plain blocking sockets, no loop.

    python -m tests.stress._peer slow-reader --port P --bytes N --rate MBPS
    python -m tests.stress._peer fast-writer --port P --bytes N
    python -m tests.stress._peer fault CASE --port P [--count N]

Each prints one JSON object on stdout and exits; every wait has a timeout,
every loop a bound.  A peer is a separate process so that the loop under
test sees real remote behaviour (resets, stalls, vanishing peers) and its
own process holds only its own descriptors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

HOST = "127.0.0.1"
TIMEOUT = 20.0
POOL = os.urandom(1 << 20)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
    return sock


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_to_eof(sock: socket.socket, limit: int = 1 << 30) -> tuple[bytes, str]:
    """All bytes up to EOF (or a reset, or ``limit``), and how it ended."""
    got = bytearray()
    while len(got) < limit:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return bytes(got), "reset"
        except TimeoutError:
            return bytes(got), "timeout"
        if not data:
            return bytes(got), "eof"
        got += data
    return bytes(got), "limit"


# -- flow ------------------------------------------------------------------------


def slow_reader(port: int, total: int, rate: float) -> dict[str, Any]:
    sock = connect(port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    digest = hashlib.sha256()
    got = 0
    start = time.monotonic()
    while got < total:
        data = sock.recv(65536)
        if not data:
            break
        digest.update(data)
        got += len(data)
        ahead = got / (rate * 1e6) - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    sock.close()
    return {
        "bytes": got,
        "sha256": digest.hexdigest(),
        "seconds": time.monotonic() - start,
    }


def fast_writer(port: int, total: int) -> dict[str, Any]:
    sock = connect(port)
    digest = hashlib.sha256()
    rng = random.Random(1)
    sent = 0
    start = time.monotonic()
    while sent < total:
        n = min(total - sent, 256 * 1024)
        offset = rng.randrange(len(POOL) - n + 1)
        chunk = POOL[offset : offset + n]
        sock.sendall(chunk)
        digest.update(chunk)
        sent += n
    sock.shutdown(socket.SHUT_WR)
    read_to_eof(sock)
    sock.close()
    return {
        "bytes": sent,
        "sha256": digest.hexdigest(),
        "seconds": time.monotonic() - start,
    }


# -- faults ----------------------------------------------------------------------


def in_threads(count: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` for each i in its own thread; exceptions become results."""
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            results[i] = fn(i)
        except Exception as exc:
            results[i] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    return results


def fault_reset(port: int, count: int) -> dict[str, Any]:
    """Send part of a stream, read a little of the echo, then reset."""

    def one(i: int) -> str:
        sock = connect(port)
        sock.sendall(POOL[: 65536 + i])
        sock.recv(1024)
        reset(sock)
        return "reset"

    return {"results": in_threads(count, one)}


def fault_half_close(port: int, count: int) -> dict[str, Any]:
    """Send, shut down the write side, read the whole echo back to EOF."""

    def one(i: int) -> str:
        sock = connect(port)
        rng = random.Random(i)
        n = rng.randrange(1, 200_000)
        offset = rng.randrange(len(POOL) - n)
        data = POOL[offset : offset + n]
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        got, how = read_to_eof(sock)
        sock.close()
        if got != data:
            return f"echo differs ({len(got)} of {len(data)} bytes, ended by {how})"
        return "ok"

    return {"results": in_threads(count, one)}


def fault_vanish(port: int, count: int) -> dict[str, Any]:
    """Connect and go: half close politely, half reset, none send anything."""
    for i in range(count):
        sock = connect(port)
        if i % 2:
            reset(sock)
        else:
            sock.close()
    return {"results": ["gone"] * count}


def fault_stall(port: int, count: int) -> dict[str, Any]:
    """Ask for a large response, stop reading; afterwards see how it ended.

    (The receive buffer keeps its default size: a tiny one on loopback stalls
    the sender's window updates for tens of seconds after reading resumes.)"""
    socks = []
    for _ in range(count):
        sock = connect(port)
        sock.sendall(b"BIG\n")
        socks.append(sock)
    time.sleep(float(os.environ.get("STALL_SECONDS", "1.5")))
    results = []
    for sock in socks:
        _, how = read_to_eof(sock, limit=64 << 20)
        results.append(how)
        sock.close()
    return {"results": results}


def fault_many(port: int, count: int) -> dict[str, Any]:
    """``count`` connections at once, each one line echoed (EMFILE case)."""

    def one(i: int) -> str:
        sock = connect(port)
        line = f"hello {i}\n".encode()
        sock.sendall(line)
        got, how = read_to_eof(sock)
        sock.close()
        return "ok" if got == line else f"got {got!r} ({how})"

    sys.stdin.readline()  # wait for the server to lower its fd limit
    return {"results": in_threads(count, one)}


def fault_hold(port: int, count: int) -> dict[str, Any]:
    """Hold ``count`` connections until the server closes them (or stdin says
    so); then check that new connections are refused."""
    socks = [connect(port) for _ in range(count)]
    for sock in socks:
        sock.sendall(b"x")
        sock.recv(1)
    print("HELD", flush=True)
    sys.stdin.readline()
    for sock in socks:
        sock.close()
    try:
        connect(port).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    return {"results": ["closed"] * count, "refused_after_close": refused}


def tls_client_hello() -> bytes:
    """The first flight of a real TLS client handshake."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def fault_tls(port: int, count: int, cafile: str) -> dict[str, Any]:
    """TLS peers that give up: garbage, half a ClientHello then reset, a
    silent stall; then one good client that must still be served."""
    hello = tls_client_hello()
    results = []
    for i in range(count):
        sock = connect(port)
        kind = i % 3
        if kind == 0:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            _, how = read_to_eof(sock)
            results.append(f"garbage:{how}")
            sock.close()
        elif kind == 1:
            sock.sendall(hello[: len(hello) // 2])
            reset(sock)
            results.append("half-hello:reset")
        else:
            sock.sendall(hello)
            sock.settimeout(5)
            _, how = read_to_eof(sock)  # the server's handshake timeout ends it
            results.append(f"stall:{how}")
            sock.close()
    context = ssl.create_default_context(cafile=cafile)
    with (
        connect(port) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"ping\n")
        good = tls.recv(100) == b"ping\n"
    return {"results": results, "good_client_served": good}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role")
    parser.add_argument("case", nargs="?")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--rate", type=float, default=80.0, help="MB/s")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--cafile")
    args = parser.parse_args()
    if args.role == "slow-reader":
        result = slow_reader(args.port, args.bytes, args.rate)
    elif args.role == "fast-writer":
        result = fast_writer(args.port, args.bytes)
    elif args.case == "tls":
        result = fault_tls(args.port, args.count, args.cafile)
    else:
        cases = {
            "reset": fault_reset,
            "half_close": fault_half_close,
            "vanish": fault_vanish,
            "stall": fault_stall,
            "emfile": fault_many,
            "hold": fault_hold,
        }
        result = cases[args.case](args.port, args.count)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
