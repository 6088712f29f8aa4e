"""UDP and Unix datagram endpoints (``create_datagram_endpoint``) on real
sockets.  Every test body runs on stock asyncio and on trioloop."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile

import pytest
from _support import Recorder, requires_ipv6

LOCAL = "127.0.0.1"

#: What a connected UDP socket reports when its peer's port is closed (ICMP
#: "port unreachable"): Winsock calls it a reset (WSAECONNRESET).
PORT_UNREACHABLE = (
    ConnectionResetError if sys.platform == "win32" else ConnectionRefusedError
)


async def _endpoint(**kwargs):
    loop = asyncio.get_running_loop()
    return await loop.create_datagram_endpoint(Recorder, **kwargs)


def test_udp_exchange_between_two_endpoints(run):
    async def main():
        server_t, server = await _endpoint(local_addr=(LOCAL, 0))
        server_addr = server_t.get_extra_info("sockname")
        client_t, client = await _endpoint(remote_addr=server_addr)
        client_addr = client_t.get_extra_info("sockname")
        assert client_t.get_extra_info("peername") == server_addr
        client_t.sendto(b"ping")  # connected: no address needed
        await server.until(lambda p: p.datagrams)
        assert server.datagrams == [(b"ping", client_addr)]
        server_t.sendto(b"pong", client_addr)
        await client.until(lambda p: p.datagrams)
        assert client.datagrams == [(b"pong", server_addr)]
        for transport, protocol in ((client_t, client), (server_t, server)):
            transport.close()
            await protocol.until_event("lost")
            assert protocol.lost_exc is None
            assert protocol.events == ["made", "lost"]

    run(main())


def test_udp_many_datagrams_keep_their_boundaries(run):
    async def main():
        server_t, server = await _endpoint(local_addr=(LOCAL, 0))
        client_t, _ = await _endpoint(remote_addr=server_t.get_extra_info("sockname"))
        sizes = [0, 1, 100, 1400, 8000]
        if sys.platform.startswith("linux"):
            # macOS refuses UDP datagrams over 9216 bytes by default
            # (net.inet.udp.maxdgram); Windows' default receive buffer (64
            # KiB) may drop part of a burst that big.
            sizes.append(60000)
        for size in sizes:
            client_t.sendto(bytes([size % 251]) * size)
        if sys.version_info < (3, 13):
            sizes.remove(0)  # asyncio dropped empty datagrams before 3.13
        await server.until(lambda p: len(p.datagrams) == len(sizes))
        assert [len(data) for data, _ in server.datagrams] == sizes
        client_t.close()
        server_t.close()

    run(main())


def test_udp_sendto_other_address_on_connected_endpoint_is_refused(run):
    async def main():
        server_t, _ = await _endpoint(local_addr=(LOCAL, 0))
        client_t, _ = await _endpoint(remote_addr=server_t.get_extra_info("sockname"))
        with pytest.raises(ValueError):
            client_t.sendto(b"x", (LOCAL, 9))
        client_t.close()
        server_t.close()

    run(main())


def test_udp_refused_port_reports_error_received(run):
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
            gone.bind((LOCAL, 0))
            addr = gone.getsockname()
        # Nobody listens there now: the ICMP "port unreachable" is reported on
        # the next operation of a connected UDP socket.
        transport, protocol = await _endpoint(remote_addr=addr)
        for _ in range(50):
            transport.sendto(b"anyone?")
            if protocol.errors:
                break
            await asyncio.sleep(0.02)
        assert protocol.errors and isinstance(protocol.errors[0], PORT_UNREACHABLE)
        assert not transport.is_closing()  # errors don't close a datagram transport
        transport.close()
        await protocol.until_event("lost")

    run(main())


def test_udp_endpoint_from_sock(run):
    async def main():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOCAL, 0))
        transport, protocol = await _endpoint(sock=sock)
        assert transport.get_extra_info("socket").fileno() == sock.fileno()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.bind((LOCAL, 0))
            sender.sendto(b"to the given socket", sock.getsockname())
            await protocol.until(lambda p: p.datagrams)
            assert protocol.datagrams == [
                (b"to the given socket", sender.getsockname())
            ]
        transport.close()
        await protocol.until_event("lost")
        assert sock.fileno() == -1

    run(main())


def test_udp_reuse_port(run):
    async def main():
        if not hasattr(socket, "SO_REUSEPORT"):  # Windows
            with pytest.raises(ValueError, match="reuse_port not supported"):
                await _endpoint(local_addr=(LOCAL, 0), reuse_port=True)
            return
        first_t, _ = await _endpoint(local_addr=(LOCAL, 0), reuse_port=True)
        addr = first_t.get_extra_info("sockname")
        second_t, _ = await _endpoint(local_addr=addr, reuse_port=True)
        assert second_t.get_extra_info("sockname") == addr
        first_t.close()
        second_t.close()

    run(main())


@requires_ipv6
def test_udp_over_ipv6(run):
    async def main():
        server_t, server = await _endpoint(local_addr=("::1", 0))
        client_t, _ = await _endpoint(
            remote_addr=server_t.get_extra_info("sockname")[:2], family=socket.AF_INET6
        )
        client_t.sendto(b"six")
        await server.until(lambda p: p.datagrams)
        data, addr = server.datagrams[0]
        assert data == b"six" and addr[:2] == client_t.get_extra_info("sockname")[:2]
        client_t.close()
        server_t.close()

    run(main())


def test_udp_abort_and_buffer_size(run):
    async def main():
        transport, protocol = await _endpoint(local_addr=(LOCAL, 0))
        assert transport.get_write_buffer_size() == 0
        transport.abort()
        assert transport.is_closing()
        await protocol.until_event("lost")
        assert protocol.lost_exc is None

    run(main())


@pytest.mark.skipif(
    sys.platform == "win32", reason="Python has no AF_UNIX sockets on Windows"
)
def test_unix_datagram_endpoints(run):
    async def main():
        with tempfile.TemporaryDirectory() as tmp:
            server_path = os.path.join(tmp, "server.sock")
            client_path = os.path.join(tmp, "client.sock")
            server_t, server = await _endpoint(
                family=socket.AF_UNIX, local_addr=server_path
            )
            client_t, client = await _endpoint(
                family=socket.AF_UNIX, local_addr=client_path, remote_addr=server_path
            )
            client_t.sendto(b"over a path")
            await server.until(lambda p: p.datagrams)
            assert server.datagrams == [(b"over a path", client_path)]
            server_t.sendto(b"reply", client_path)
            await client.until(lambda p: p.datagrams)
            assert client.datagrams == [(b"reply", server_path)]
            client_t.close()
            server_t.close()
            await client.until_event("lost")
            await server.until_event("lost")

    run(main())
