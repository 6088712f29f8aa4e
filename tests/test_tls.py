"""TLS through asyncio's ``sslproto`` on the loop: ``ssl=`` servers and clients,
``start_tls``, handshake timeouts, shutdown.

Certificates come from a CA made for the test session (``tls`` fixture in
conftest.py).  Every test body runs on stock asyncio and on trioloop.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import sys
import threading

import pytest
from _support import Recorder, tcp_pair, within

LOCAL = "127.0.0.1"

needs_311 = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="ssl_shutdown_timeout is new in Python 3.11"
)


class TLSRecorder(Recorder):
    def connection_lost(self, exc):
        # Python 3.10's sslproto doesn't mark an app transport closed when its
        # connection is lost, and warns (ResourceWarning) when it is collected.
        self.transport.close()
        super().connection_lost(exc)


async def _server(ssl_context, **kwargs):
    loop = asyncio.get_running_loop()
    accepted: asyncio.Queue[Recorder] = asyncio.Queue()
    server = await loop.create_server(
        lambda: TLSRecorder(queue=accepted), LOCAL, 0, ssl=ssl_context, **kwargs
    )
    return server, accepted, server.sockets[0].getsockname()[1]


async def _close(server):
    server.close()
    await within(server.wait_closed())


def _quiet(loop):
    """Collect exception-handler calls (failed handshakes are reported there)."""
    contexts = []
    loop.set_exception_handler(lambda loop, context: contexts.append(context))
    return contexts


async def _echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


def test_tls_streams_echo(run, tls):
    async def main():
        server = await asyncio.start_server(_echo, LOCAL, 0, ssl=tls.server)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await within(
            asyncio.open_connection(
                LOCAL, port, ssl=tls.client, server_hostname="localhost"
            )
        )
        ssl_object = writer.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
        assert writer.get_extra_info("peercert")["subjectAltName"][0] == (
            "DNS",
            "localhost",
        )
        assert writer.get_extra_info("cipher") is not None
        assert writer.get_extra_info("peername") == (LOCAL, port)
        payload = os.urandom(2 * 1024 * 1024)
        writer.write(payload)
        echoed = await within(reader.readexactly(len(payload)))
        assert echoed == payload
        writer.close()
        await within(writer.wait_closed())
        await _close(server)

    run(main())


def test_tls_protocols_and_close_notify(run, tls):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted, port = await _server(tls.server)
        transport, protocol = await within(
            loop.create_connection(TLSRecorder, "localhost", port, ssl=tls.client)
        )
        peer = await within(accepted.get())
        assert peer.transport.get_extra_info("sslcontext") is tls.server
        assert not transport.can_write_eof()  # TLS transports cannot half-close
        transport.write(b"hello over tls")
        await peer.until_received(14)
        peer.transport.write(b"and back")
        await protocol.until_received(8)
        transport.close()  # sends close_notify; the peer sees EOF, then loss
        await protocol.until_event("lost")
        await peer.until_event("lost")
        assert protocol.lost_exc is None
        # 3.10's sslproto reports no EOF before the loss; later versions do.
        assert peer.events[0] == "made" and peer.events[-1] == "lost"
        await _close(server)

    run(main())


def test_tls_untrusted_certificate_is_refused(run, tls):
    async def main():
        loop = asyncio.get_running_loop()
        _quiet(loop)
        server, _, port = await _server(tls.server)
        untrusting = ssl.create_default_context()  # system CAs only
        untrusting.load_verify_locations(cadata=_unrelated_ca_pem())
        with pytest.raises(ssl.SSLCertVerificationError):
            await within(
                loop.create_connection(TLSRecorder, "localhost", port, ssl=untrusting)
            )
        await _close(server)

    run(main())


def _unrelated_ca_pem():
    import trustme

    return trustme.CA().cert_pem.bytes().decode()


def test_tls_wrong_server_hostname_is_refused(run, tls):
    async def main():
        loop = asyncio.get_running_loop()
        _quiet(loop)
        server, _, port = await _server(tls.server)
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            await within(
                loop.create_connection(
                    TLSRecorder,
                    LOCAL,
                    port,
                    ssl=tls.client,
                    server_hostname="elsewhere.example",
                )
            )
        await _close(server)

    run(main())


def test_start_tls_upgrades_a_plain_connection(run, tls):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted, port = await _server(None)
        transport, protocol = await within(
            loop.create_connection(TLSRecorder, LOCAL, port)
        )
        peer = await within(accepted.get())
        transport.write(b"STARTTLS")
        await peer.until_received(8)
        assert transport.get_extra_info("ssl_object") is None
        server_tls, client_tls = await within(
            asyncio.gather(
                loop.start_tls(peer.transport, peer, tls.server, server_side=True),
                loop.start_tls(
                    transport, protocol, tls.client, server_hostname="localhost"
                ),
            )
        )
        # start_tls calls no connection_made: the protocols keep the new
        # transports by hand.
        peer.transport, protocol.transport = server_tls, client_tls
        assert client_tls.get_extra_info("ssl_object") is not None
        assert server_tls.get_extra_info("ssl_object") is not None
        client_tls.write(b"secret")
        await peer.until_received(8 + 6)
        assert peer.data == b"STARTTLSsecret"
        server_tls.write(b"reply")
        await protocol.until_received(5)
        assert protocol.data == b"reply"
        client_tls.close()
        await protocol.until_event("lost")
        await peer.until_event("lost")
        await _close(server)

    run(main())


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="StreamWriter.start_tls is new in Python 3.11"
)
def test_stream_writer_start_tls(run, tls):
    async def main():
        upgraded = asyncio.get_running_loop().create_future()

        async def handle(reader, writer):
            assert await reader.readexactly(9) == b"STARTTLS\n"
            writer.write(b"GO\n")
            await writer.drain()
            await writer.start_tls(tls.server)
            upgraded.set_result(None)
            await _echo(reader, writer)

        server = await asyncio.start_server(handle, LOCAL, 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await within(asyncio.open_connection(LOCAL, port))
        writer.write(b"STARTTLS\n")
        assert await within(reader.readline()) == b"GO\n"
        await within(writer.start_tls(tls.client, server_hostname="localhost"))
        await within(upgraded)
        writer.write(b"encrypted echo")
        assert await within(reader.readexactly(14)) == b"encrypted echo"
        writer.close()
        await within(writer.wait_closed())
        await _close(server)

    run(main())


def test_client_handshake_timeout_when_peer_never_speaks_tls(run, tls):
    async def main():
        loop = asyncio.get_running_loop()
        _quiet(loop)
        server, accepted, port = await _server(None)  # plain TCP: never answers
        started = loop.time()
        with pytest.raises(ConnectionAbortedError, match="handshake is taking longer"):
            await within(
                loop.create_connection(
                    TLSRecorder,
                    "localhost",
                    port,
                    ssl=tls.client,
                    ssl_handshake_timeout=0.3,
                )
            )
        assert 0.25 <= loop.time() - started < 5
        peer = await within(accepted.get())
        await peer.until_event("lost")  # the client gave up and closed the socket
        await _close(server)

    run(main())


def test_server_handshake_timeout_when_client_never_speaks_tls(run, tls):
    async def main():
        loop = asyncio.get_running_loop()
        _quiet(loop)
        server, _, port = await _server(tls.server, ssl_handshake_timeout=0.3)
        with socket.create_connection((LOCAL, port)) as raw:
            raw.setblocking(False)
            started = loop.time()
            try:
                data = await within(loop.sock_recv(raw, 100))
            except ConnectionResetError:
                data = b""
            assert data == b""  # the server aborted the connection
            assert 0.25 <= loop.time() - started < 5
        await _close(server)

    run(main())


def test_tls_abort(run, tls):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted, port = await _server(tls.server)
        transport, protocol = await within(
            loop.create_connection(TLSRecorder, "localhost", port, ssl=tls.client)
        )
        peer = await within(accepted.get())
        transport.abort()
        await protocol.until_event("lost")
        assert protocol.lost_exc is None
        await peer.until_event("lost")
        await _close(server)

    run(main())


@needs_311
def test_tls_shutdown_timeout_when_peer_never_answers_close_notify(run, tls):
    """The peer completes the handshake (in a thread, stdlib ssl) and then
    never reads: closing must give up after ``ssl_shutdown_timeout``."""

    async def main():
        loop = asyncio.get_running_loop()
        _quiet(loop)
        client_sock, server_sock = tcp_pair()
        server_sock.setblocking(True)
        release = threading.Event()

        def peer():
            with tls.server.wrap_socket(server_sock, server_side=True) as tls_sock:
                tls_sock.recv(5)
                release.wait(10)

        peer_done = loop.run_in_executor(None, peer)
        transport, protocol = await within(
            loop.create_connection(
                TLSRecorder,
                sock=client_sock,
                ssl=tls.client,
                server_hostname="localhost",
                ssl_shutdown_timeout=0.3,
            )
        )
        transport.write(b"hello")
        await asyncio.sleep(0.05)
        started = loop.time()
        transport.close()
        await protocol.until_event("lost")
        assert 0.25 <= loop.time() - started < 5
        release.set()
        await within(peer_done)

    run(main())
