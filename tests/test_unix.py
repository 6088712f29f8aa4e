"""Unix stream sockets: ``create_unix_connection``/``create_unix_server`` on a
path and in the abstract namespace, and the stream helpers.  Every test body
runs on stock asyncio and on trioloop."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import uuid

import pytest
from _support import Recorder, within

if sys.platform == "win32":
    pytest.skip(
        "Unix sockets: asyncio's Windows selector loop has none",
        allow_module_level=True,
    )


@pytest.fixture
def sock_path():
    with tempfile.TemporaryDirectory() as tmp:
        yield os.path.join(tmp, "server.sock")


async def _unix_server(path, **kwargs):
    loop = asyncio.get_running_loop()
    accepted: asyncio.Queue[Recorder] = asyncio.Queue()
    server = await loop.create_unix_server(
        lambda: Recorder(queue=accepted), path, **kwargs
    )
    return server, accepted


def test_unix_connection_on_a_path(run, sock_path):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await _unix_server(sock_path)
        assert server.sockets[0].getsockname() == sock_path
        transport, protocol = await within(
            loop.create_unix_connection(Recorder, sock_path)
        )
        peer = await within(accepted.get())
        assert transport.get_extra_info("peername") == sock_path
        assert peer.transport.get_extra_info("sockname") == sock_path
        transport.write(b"over unix")
        await peer.until_received(9)
        peer.transport.write(b"back")
        await protocol.until_received(4)
        assert transport.can_write_eof()
        transport.write_eof()
        await peer.until_event("eof")
        await peer.until_event("lost")
        await protocol.until_event("lost")
        server.close()
        await within(server.wait_closed())
        # Since 3.13 a Unix server removes its socket file when it closes.
        assert os.path.exists(sock_path) == (sys.version_info < (3, 13))

    run(main())


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the abstract namespace is Linux's"
)
def test_unix_connection_in_abstract_namespace(run):
    async def main():
        loop = asyncio.get_running_loop()
        name = "\0trioloop-test-" + uuid.uuid4().hex
        server, accepted = await _unix_server(name)
        assert server.sockets[0].getsockname() == name.encode()
        transport, protocol = await within(loop.create_unix_connection(Recorder, name))
        peer = await within(accepted.get())
        transport.write(b"abstract")
        await peer.until_received(8)
        transport.close()
        await peer.until_event("lost")
        await protocol.until_event("lost")
        server.close()
        await within(server.wait_closed())

    run(main())


def test_start_unix_server_and_open_unix_connection(run, sock_path):
    async def main():
        async def echo(reader, writer):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_unix_server(echo, sock_path)
        reader, writer = await within(asyncio.open_unix_connection(sock_path))
        payload = os.urandom(2 * 1024 * 1024)

        async def send():
            writer.write(payload)
            await writer.drain()
            writer.write_eof()

        _, echoed = await within(asyncio.gather(send(), reader.read()))
        assert echoed == payload
        writer.close()
        await within(writer.wait_closed())
        server.close()
        await within(server.wait_closed())

    run(main())


def test_unix_server_replaces_stale_socket_file(run, sock_path):
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_UNIX) as stale:
            stale.bind(sock_path)  # left behind by a dead server
        server, accepted = await _unix_server(sock_path)
        transport, _ = await within(loop.create_unix_connection(Recorder, sock_path))
        peer = await within(accepted.get())
        transport.close()
        await peer.until_event("lost")
        server.close()
        await within(server.wait_closed())

    run(main())


def test_unix_server_start_serving_later(run, sock_path):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await _unix_server(sock_path, start_serving=False)
        assert not server.is_serving()
        await server.start_serving()
        transport, _ = await within(loop.create_unix_connection(Recorder, sock_path))
        peer = await within(accepted.get())
        transport.close()
        await peer.until_event("lost")
        server.close()
        await within(server.wait_closed())

    run(main())


def test_unix_connection_refused_without_server(run, sock_path):
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(FileNotFoundError):
            await within(loop.create_unix_connection(Recorder, sock_path))
        with socket.socket(socket.AF_UNIX) as bound_only:
            bound_only.bind(sock_path)
            with pytest.raises(ConnectionRefusedError):
                await within(loop.create_unix_connection(Recorder, sock_path))

    run(main())


def test_unix_connection_from_socketpair(run):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        transport_a, proto_a = await loop.create_unix_connection(Recorder, sock=a)
        transport_b, proto_b = await loop.connect_accepted_socket(Recorder, b)
        transport_a.write(b"pair")
        await proto_b.until_received(4)
        transport_b.write(b"ack")
        await proto_a.until_received(3)
        transport_a.close()
        await proto_b.until_event("lost")
        await proto_a.until_event("lost")
        assert a.fileno() == -1 and b.fileno() == -1

    run(main())


def test_unix_sendfile(run, sock_path):
    async def main():
        loop = asyncio.get_running_loop()
        data = os.urandom(512 * 1024)
        server, accepted = await _unix_server(sock_path)
        transport, _ = await within(loop.create_unix_connection(Recorder, sock_path))
        peer = await within(accepted.get())
        with tempfile.TemporaryFile() as file:
            file.write(data)
            file.seek(0)
            assert await within(loop.sendfile(transport, file)) == len(data)
        await peer.until_received(len(data))
        assert peer.data == data
        transport.close()
        await peer.until_event("lost")
        server.close()
        await within(server.wait_closed())

    run(main())
