"""Load generators for the network workloads, run in their own process.

The server side of every network workload runs under the event loop being
measured (see ``workloads.py``); the clients here run in a separate process
so that they never share the measured loop or its thread.  They use plain
blocking or ``selectors``-based sockets - no event loop at all - so every
implementation faces the same client, and they only ever talk to loopback.

Every loop is bounded in time *and* count.  Each mode prints one JSON object
on stdout (the timing is taken here, on the client side) and exits.

    python _client.py tcp  --port P --conns C --size S --duration D --warmup W
    python _client.py udp  --port P --size S --duration D --warmup W
    python _client.py idle --port P --conns N      (holds N connections open
                                                    until stdin reaches EOF)
"""

from __future__ import annotations

import argparse
import json
import resource
import selectors
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
#: Upper bound on round trips in one run, whatever the duration.
MAX_OPS = 20_000_000


def raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# -- TCP echo ------------------------------------------------------------------


def tcp_one(port: int, size: int, duration: float, warmup: float) -> dict:
    """One connection, blocking ping-pong: the cheapest client Python has."""
    sock = socket.create_connection((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"x" * size
    buf = bytearray(max(size, 65536))
    view = memoryview(buf)
    sendall, recv_into = sock.sendall, sock.recv_into

    def exchange(seconds: float) -> tuple[int, float]:
        ops = 0
        start = time.perf_counter()
        end = start + seconds
        now = start
        while now < end and ops < MAX_OPS:
            sendall(msg)
            got = 0
            while got < size:
                n = recv_into(view, len(buf))
                if not n:
                    raise ConnectionError("server closed the connection")
                got += n
            ops += 1
            if ops & 15 == 0 or size > 4096:
                now = time.perf_counter()
        return ops, time.perf_counter() - start

    warm, _ = exchange(warmup)
    ops, elapsed = exchange(duration)
    sock.close()
    return {"ops": ops, "seconds": round(elapsed, 4), "warmup_ops": warm}


class _Conn:
    __slots__ = ("pending", "received", "sock", "want_write")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = memoryview(b"")
        self.received = 0
        self.want_write = False


def tcp_many(port: int, conns: int, size: int, duration: float, warmup: float) -> dict:
    """``conns`` connections, each doing ping-pong, multiplexed with epoll."""
    raise_nofile(conns + 64)
    msg = b"x" * size
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(conns):
        s = socket.create_connection((HOST, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks.append(s)
    states = [_Conn(s) for s in socks]
    for st in states:
        sel.register(st.sock, selectors.EVENT_READ, st)
    buf = bytearray(262144)
    R, W = selectors.EVENT_READ, selectors.EVENT_READ | selectors.EVENT_WRITE

    def send(st: _Conn) -> None:
        try:
            n = st.sock.send(st.pending)
        except BlockingIOError:
            n = 0
        st.pending = st.pending[n:]
        want = len(st.pending) > 0
        if want != st.want_write:
            st.want_write = want
            sel.modify(st.sock, W if want else R, st)

    def run(seconds: float) -> tuple[int, float]:
        ops = 0
        in_flight = 0
        start = time.perf_counter()
        end = start + seconds
        sending = True
        for st in states:
            st.received = 0
            st.pending = memoryview(msg)
            in_flight += 1
            send(st)
        while in_flight:
            events = sel.select(5.0)
            if not events:
                raise TimeoutError("echo server stopped answering")
            for key, ev in events:
                st = key.data
                if ev & selectors.EVENT_WRITE and st.pending:
                    send(st)
                if ev & selectors.EVENT_READ:
                    try:
                        n = st.sock.recv_into(buf)
                    except BlockingIOError:
                        continue
                    if not n:
                        raise ConnectionError("server closed the connection")
                    st.received += n
                    if st.received >= size:
                        st.received -= size
                        ops += 1
                        if sending and (ops >= MAX_OPS or time.perf_counter() >= end):
                            sending = False
                        if sending:
                            st.pending = memoryview(msg)
                            send(st)
                        else:
                            in_flight -= 1
        return ops, time.perf_counter() - start

    warm, _ = run(warmup)
    ops, elapsed = run(duration)
    for s in socks:
        s.close()
    return {"ops": ops, "seconds": round(elapsed, 4), "warmup_ops": warm}


# -- UDP echo ------------------------------------------------------------------


def udp(port: int, size: int, duration: float, warmup: float) -> dict:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((HOST, port))
    sock.settimeout(0.2)
    msg = b"u" * size
    lost = 0

    def run(seconds: float) -> tuple[int, float]:
        nonlocal lost
        ops = 0
        start = time.perf_counter()
        end = start + seconds
        while ops < MAX_OPS and (ops & 15 or time.perf_counter() < end):
            sock.send(msg)
            try:
                sock.recv(65536)
            except TimeoutError:
                lost += 1
                if lost > 100:
                    raise
                continue
            ops += 1
        return ops, time.perf_counter() - start

    warm, _ = run(warmup)
    ops, elapsed = run(duration)
    sock.close()
    return {"ops": ops, "seconds": round(elapsed, 4), "warmup_ops": warm, "lost": lost}


# -- idle connections (memory workload) -----------------------------------------


def idle(port: int, conns: int, batch: int = 500, timeout: float = 60.0) -> dict:
    """Open ``conns`` connections, report, hold them until stdin closes."""
    raise_nofile(conns + 64)
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + timeout
    start = time.perf_counter()
    while len(socks) < conns:
        pending = set()
        for _ in range(min(batch, conns - len(socks))):
            s = socket.socket()
            s.setblocking(False)
            # RST on close: no TIME_WAIT left behind to exhaust ephemeral ports
            # over the repetitions.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            err = s.connect_ex((HOST, port))
            if err not in (0, 115):  # EINPROGRESS
                raise OSError(err, "connect failed")
            sel.register(s, selectors.EVENT_WRITE)
            pending.add(s)
            socks.append(s)
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(socks) - len(pending)} connections")
            for key, _ in sel.select(1.0):
                s = key.fileobj
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, "connect failed")
                sel.unregister(s)
                pending.discard(s)
    connect_seconds = time.perf_counter() - start
    print(json.dumps({"connected": len(socks), "seconds": connect_seconds}), flush=True)
    sys.stdin.read()  # hold until the server side says done (EOF)
    for s in socks:
        s.close()
    return {"closed": len(socks)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["tcp", "udp", "idle"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--duration", type=float, default=0.5)
    p.add_argument("--warmup", type=float, default=0.1)
    a = p.parse_args()
    if a.mode == "tcp":
        if a.conns == 1:
            out = tcp_one(a.port, a.size, a.duration, a.warmup)
        else:
            out = tcp_many(a.port, a.conns, a.size, a.duration, a.warmup)
    elif a.mode == "udp":
        out = udp(a.port, a.size, a.duration, a.warmup)
    else:
        out = idle(a.port, a.conns)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
