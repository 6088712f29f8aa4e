"""TCP and the socket surface: fd watchers, ``sock_*``, connections, servers,
streams and flow control, on real loopback sockets.

Every test body runs on stock asyncio and on trioloop (sync and hosted)
through the ``run`` fixture: what asyncio does is the expected behaviour.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import socket
import sys
import tempfile

import pytest
from _support import HAS_IPV6, Recorder, requires_ipv6, tcp_pair, within

LOCAL = "127.0.0.1"


async def tcp_server(**kwargs):
    """A server on 127.0.0.1 whose connections' ``Recorder``s arrive in a queue."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Queue[Recorder] = asyncio.Queue()
    keep_open = kwargs.pop("keep_open_on_eof", False)
    server = await loop.create_server(
        lambda: Recorder(queue=accepted, keep_open_on_eof=keep_open), LOCAL, 0, **kwargs
    )
    return server, accepted


def address(server):
    return server.sockets[0].getsockname()[:2]


async def close_server(server):
    server.close()
    await within(server.wait_closed())


# -- add_reader / add_writer --------------------------------------------------


def test_add_reader_fires_and_remove_reader(run):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = tcp_pair()
        with a, b:
            got = loop.create_future()

            def on_readable(tag):
                got.set_result((tag, a.recv(100), loop.remove_reader(a)))

            loop.add_reader(a, on_readable, "tag")  # a socket object, not only an fd
            b.send(b"ping")
            assert await within(got) == ("tag", b"ping", True)
            assert loop.remove_reader(a) is False

    run(main())


def test_add_reader_is_level_triggered(run):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = tcp_pair()
        with a, b:
            calls = 0
            thrice = loop.create_future()

            def on_readable():  # never reads: the fd stays readable
                nonlocal calls
                calls += 1
                if calls == 3:
                    thrice.set_result(None)

            loop.add_reader(a.fileno(), on_readable)
            b.send(b"x")
            await within(thrice)
            assert loop.remove_reader(a.fileno()) is True
            assert a.recv(10) == b"x"

    run(main())


def test_add_writer_and_remove_writer(run):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = tcp_pair()
        with a, b:
            writable = loop.create_future()
            loop.add_writer(a.fileno(), writable.set_result, "writable")
            assert await within(writable) == "writable"
            assert loop.remove_writer(a.fileno()) is True
            assert loop.remove_writer(a.fileno()) is False

    run(main())


def test_add_reader_again_replaces_callback(run):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = tcp_pair()
        with a, b:
            called = []
            second = loop.create_future()
            loop.add_reader(a, called.append, "first")
            loop.add_reader(a, lambda: second.done() or second.set_result(None))
            b.send(b"x")
            await within(second)
            loop.remove_reader(a)
            assert called == []

    run(main())


def test_reader_and_writer_on_one_fd(run):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = tcp_pair()
        with a, b:
            readable, writable = loop.create_future(), loop.create_future()
            loop.add_reader(a, lambda: readable.done() or readable.set_result(None))
            loop.add_writer(a, lambda: writable.done() or writable.set_result(None))
            b.send(b"x")
            await within(asyncio.gather(readable, writable))
            assert loop.remove_reader(a) and loop.remove_writer(a)

    run(main())


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="Windows: a socket is no file descriptor (os.close cannot close it)",
)
def test_add_reader_on_closed_fd(run):
    """epoll and kqueue refuse a closed fd at once; poll (the default where
    there is no epoll or kqueue) takes it and reports it ready (``POLLNVAL``)
    at the next poll, on asyncio's loop as on trioloop's."""

    async def main():
        loop = asyncio.get_running_loop()
        a, b = tcp_pair()
        b.close()
        fd = a.detach()
        os.close(fd)
        if selectors.DefaultSelector is selectors.PollSelector:
            called = loop.create_future()
            loop.add_reader(fd, lambda: called.done() or called.set_result(None))
            try:
                await within(called)
            finally:
                loop.remove_reader(fd)
        else:
            with pytest.raises(OSError):
                loop.add_reader(fd, lambda: None)
        with pytest.raises(ValueError):
            loop.add_reader(-1, lambda: None)

    run(main())


def test_add_reader_on_transport_fd_is_refused(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server()
        transport, _ = await loop.create_connection(Recorder, *address(server))
        peer = await within(accepted.get())
        with pytest.raises(RuntimeError, match="is used by transport"):
            loop.add_reader(transport.get_extra_info("socket").fileno(), lambda: None)
        transport.close()
        await peer.until_event("lost")
        await close_server(server)

    run(main())


def test_reader_callback_error_goes_to_exception_handler(run):
    async def main():
        loop = asyncio.get_running_loop()
        contexts = []
        loop.set_exception_handler(lambda loop, context: contexts.append(context))
        a, b = tcp_pair()
        with a, b:
            after = loop.create_future()

            def broken():
                loop.remove_reader(a)
                loop.call_soon(after.set_result, None)
                raise ZeroDivisionError

            loop.add_reader(a, broken)
            b.send(b"x")
            await within(after)
        assert len(contexts) == 1
        assert isinstance(contexts[0]["exception"], ZeroDivisionError)

    run(main())


# -- sock_* coroutines --------------------------------------------------------


def test_sock_sendall_and_sock_recv_megabytes(run):
    async def main():
        loop = asyncio.get_running_loop()
        payload = os.urandom(3 * 1024 * 1024)
        a, b = tcp_pair()
        with a, b:

            async def receive():
                buf = bytearray()
                while len(buf) < len(payload):
                    chunk = await loop.sock_recv(b, 65536)
                    assert chunk, "unexpected EOF"
                    buf += chunk
                return bytes(buf)

            receiver = asyncio.ensure_future(receive())
            assert await within(loop.sock_sendall(a, payload)) is None
            assert await within(receiver) == payload
            a.shutdown(socket.SHUT_WR)
            assert await within(loop.sock_recv(b, 10)) == b""

    run(main())


def test_sock_recv_into(run):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = tcp_pair()
        with a, b:
            buf = bytearray(10)
            receiving = asyncio.ensure_future(
                loop.sock_recv_into(b, memoryview(buf)[2:])
            )
            await asyncio.sleep(0.01)
            assert not receiving.done()
            await loop.sock_sendall(a, b"hello")
            assert await within(receiving) == 5
            assert bytes(buf) == b"\0\0hello\0\0\0"

    run(main())


def test_cancelled_sock_recv_unregisters(run):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = tcp_pair()
        with a, b:
            receiving = asyncio.ensure_future(loop.sock_recv(b, 10))
            await asyncio.sleep(0.01)
            receiving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await receiving
            assert loop.remove_reader(b) is False
            await loop.sock_sendall(a, b"after")
            assert await within(loop.sock_recv(b, 10)) == b"after"

    run(main())


def test_sock_methods_refuse_blocking_sockets_in_debug_mode(run):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = tcp_pair()
        with a, b:
            a.setblocking(True)
            with pytest.raises(ValueError, match="non-blocking"):
                await loop.sock_recv(a, 1)
            with pytest.raises(ValueError, match="non-blocking"):
                await loop.sock_sendall(a, b"x")

    run(main(), debug=True)


needs_311 = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="sock_recvfrom/sock_sendto are new in Python 3.11",
)


@needs_311
def test_sock_sendto_and_sock_recvfrom(run):
    async def main():
        loop = asyncio.get_running_loop()
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
        ):
            for s in (a, b):
                s.bind((LOCAL, 0))
                s.setblocking(False)
            receiving = asyncio.ensure_future(loop.sock_recvfrom(b, 100))
            await asyncio.sleep(0.01)
            assert not receiving.done()
            assert await loop.sock_sendto(a, b"datagram", b.getsockname()) == 8
            assert await within(receiving) == (b"datagram", a.getsockname())

            buf = bytearray(4)
            await loop.sock_sendto(a, b"truncated", b.getsockname())
            if sys.platform == "win32":
                # Winsock fails a receive into a buffer shorter than the
                # datagram (WSAEMSGSIZE) where Unix truncates it.
                with pytest.raises(OSError) as caught:
                    await within(loop.sock_recvfrom_into(b, buf))
                assert caught.value.winerror == 10040
                return
            nbytes, addr = await within(loop.sock_recvfrom_into(b, buf))
            assert (nbytes, bytes(buf), addr) == (4, b"trun", a.getsockname())

    run(main())


def test_sock_connect_and_sock_accept(run):
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as listener, socket.socket() as client:
            listener.bind((LOCAL, 0))
            listener.listen()
            listener.setblocking(False)
            client.setblocking(False)
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
            await asyncio.sleep(0.01)
            assert not accepting.done()
            # A host name is resolved by sock_connect itself.
            await within(
                loop.sock_connect(client, ("localhost", listener.getsockname()[1]))
            )
            conn, addr = await within(accepting)
            with conn:
                assert addr == client.getsockname()
                assert conn.getblocking() is False
                await loop.sock_sendall(client, b"hi")
                assert await within(loop.sock_recv(conn, 10)) == b"hi"

    run(main())


def test_sock_connect_refused(run):
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as closed, socket.socket() as client:
            closed.bind((LOCAL, 0))  # bound, never listening: connections are refused
            client.setblocking(False)
            with pytest.raises(ConnectionRefusedError):
                await within(loop.sock_connect(client, closed.getsockname()))

    run(main())


def test_sock_sendfile(run):
    async def main():
        loop = asyncio.get_running_loop()
        data = os.urandom(2 * 1024 * 1024)
        a, b = tcp_pair()
        with a, b, tempfile.TemporaryFile() as file:
            file.write(data)
            file.seek(0)

            async def receive(nbytes):
                buf = bytearray()
                while len(buf) < nbytes:
                    chunk = await loop.sock_recv(b, 65536)
                    assert chunk
                    buf += chunk
                return bytes(buf)

            receiver = asyncio.ensure_future(receive(1000))
            assert (
                await within(loop.sock_sendfile(a, file, offset=10, count=1000)) == 1000
            )
            assert await within(receiver) == data[10:1010]
            assert file.tell() == 1010

            if sys.platform == "win32":
                # asyncio's Windows selector loop has no native sendfile.
                with pytest.raises(asyncio.SendfileNotAvailableError):
                    await loop.sock_sendfile(a, file, offset=0, fallback=False)
                return
            receiver = asyncio.ensure_future(receive(len(data)))
            sent = await within(loop.sock_sendfile(a, file, offset=0, fallback=False))
            assert sent == len(data)
            assert await within(receiver) == data

    run(main())


# -- create_connection --------------------------------------------------------


def test_create_connection_with_local_addr(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server()
        with socket.socket() as reserve:  # find a free port for the client side
            reserve.bind((LOCAL, 0))
            local = reserve.getsockname()
        transport, _ = await within(
            loop.create_connection(Recorder, *address(server), local_addr=local)
        )
        peer = await within(accepted.get())
        assert transport.get_extra_info("sockname") == local
        assert peer.transport.get_extra_info("peername") == local
        transport.close()
        await peer.until_event("lost")
        await close_server(server)

    run(main())


def test_create_connection_with_sock(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server()
        sock = socket.create_connection(address(server))
        transport, protocol = await loop.create_connection(Recorder, sock=sock)
        peer = await within(accepted.get())
        assert transport.get_extra_info("socket").fileno() == sock.fileno()
        peer.transport.write(b"to the given socket")
        await protocol.until_received(19)
        assert protocol.data == b"to the given socket"
        transport.close()
        await protocol.until_event("lost")
        assert sock.fileno() == -1  # the transport owns and closes the socket
        await peer.until_event("lost")
        await close_server(server)

    run(main())


def test_create_connection_refused(run):
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as closed:
            closed.bind((LOCAL, 0))
            with pytest.raises(ConnectionRefusedError):
                await within(loop.create_connection(Recorder, *closed.getsockname()))

    run(main())


async def _resolve_dual(loop, port):
    """A host name that resolves to ::1 first and then 127.0.0.1.

    When ``localhost`` resolves to both families here, it is used as is.
    Otherwise (an /etc/hosts with IPv4 only) the loop instance is given
    explicit address infos for a made-up name: the connections stay real.
    """
    infos = await loop.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)
    if {socket.AF_INET, socket.AF_INET6} <= {info[0] for info in infos}:
        return "localhost"
    explicit = [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (LOCAL, port)),
    ]

    async def getaddrinfo(host, port_, *, family=0, type=0, proto=0, flags=0):
        assert host == "dual-stack.invalid"
        return [i for i in explicit if family in (0, i[0])]

    loop.getaddrinfo = getaddrinfo
    return "dual-stack.invalid"


@requires_ipv6
@pytest.mark.parametrize("happy_eyeballs_delay", [None, 0.25])
def test_create_connection_tries_every_address(run, happy_eyeballs_delay):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server()
        port = address(server)[1]
        # ::1 on the same port: bound, never listening, so it refuses at once.
        with socket.socket(socket.AF_INET6) as refusing:
            refusing.bind(("::1", port))
            host = await _resolve_dual(loop, port)
            transport, _ = await within(
                loop.create_connection(
                    Recorder, host, port, happy_eyeballs_delay=happy_eyeballs_delay
                )
            )
        peer = await within(accepted.get())
        assert transport.get_extra_info("peername")[:2] == (LOCAL, port)
        transport.close()
        await peer.until_event("lost")
        await close_server(server)

    run(main())


@requires_ipv6
@pytest.mark.parametrize("happy_eyeballs_delay", [None, 0.25])
def test_create_connection_every_address_refused(run, happy_eyeballs_delay):
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as v4, socket.socket(socket.AF_INET6) as v6:
            v4.bind((LOCAL, 0))
            port = v4.getsockname()[1]
            v6.bind(("::1", port))
            host = await _resolve_dual(loop, port)
            with pytest.raises(OSError) as caught:
                await within(
                    loop.create_connection(
                        Recorder, host, port, happy_eyeballs_delay=happy_eyeballs_delay
                    )
                )
            assert "Multiple exceptions" in str(caught.value)

    run(main())


# -- create_server / Server ---------------------------------------------------


def test_server_start_serving_later(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server(start_serving=False)
        assert not server.is_serving()
        assert server.get_loop() is loop
        with pytest.raises(ConnectionRefusedError):  # not even listening yet
            await within(loop.create_connection(Recorder, *address(server)))
        await server.start_serving()
        assert server.is_serving()
        transport, _ = await within(loop.create_connection(Recorder, *address(server)))
        peer = await within(accepted.get())
        transport.close()
        await peer.until_event("lost")
        await close_server(server)

    run(main())


def test_server_serve_forever_cancelled(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server(start_serving=False)
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)  # let serve_forever start serving
        transport, _ = await within(loop.create_connection(Recorder, *address(server)))
        peer = await within(accepted.get())
        assert server.is_serving()
        # Close the connection first: since 3.12 wait_closed (which
        # serve_forever awaits when cancelled) waits for every connection.
        transport.close()
        await peer.until_event("lost")
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await within(serving)
        assert not server.is_serving()
        assert server.sockets == ()

    run(main())


def test_server_close_and_wait_closed(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server()
        addr = address(server)
        async with server:
            transport, protocol = await within(loop.create_connection(Recorder, *addr))
            peer = await within(accepted.get())
            server.close()
            assert not server.is_serving()
            with pytest.raises(ConnectionRefusedError):
                await within(loop.create_connection(Recorder, *addr))
            # Closing the server leaves its accepted connections open.
            peer.transport.write(b"still here")
            await protocol.until_received(10)
            transport.close()
            await peer.until_event("lost")
            await within(server.wait_closed())

    run(main())


def test_server_reuse_port(run):
    async def main():
        loop = asyncio.get_running_loop()
        if not hasattr(socket, "SO_REUSEPORT"):  # Windows
            with pytest.raises(ValueError, match="reuse_port not supported"):
                await tcp_server(reuse_port=True)
            return
        first, _ = await tcp_server(reuse_port=True)
        port = address(first)[1]
        second = await loop.create_server(Recorder, LOCAL, port, reuse_port=True)
        assert address(second) == (LOCAL, port)
        transport, _ = await within(loop.create_connection(Recorder, LOCAL, port))
        transport.close()
        await close_server(second)
        await close_server(first)

    run(main())


@requires_ipv6
def test_server_on_several_sockets(run):
    async def main():
        loop = asyncio.get_running_loop()
        accepted: asyncio.Queue[Recorder] = asyncio.Queue()
        server = await loop.create_server(
            lambda: Recorder(queue=accepted), ["127.0.0.1", "::1"], 0
        )
        addrs = sorted(s.getsockname()[:2] for s in server.sockets)
        assert [a[0] for a in addrs] == ["127.0.0.1", "::1"]
        for host, port in addrs:
            transport, _ = await within(loop.create_connection(Recorder, host, port))
            peer = await within(accepted.get())
            assert peer.transport.get_extra_info("sockname")[:2] == (host, port)
            transport.close()
            await peer.until_event("lost")
        await close_server(server)

    run(main())


def test_server_from_listening_sock(run):
    async def main():
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.bind((LOCAL, 0))
        accepted: asyncio.Queue[Recorder] = asyncio.Queue()
        server = await loop.create_server(lambda: Recorder(queue=accepted), sock=sock)
        assert server.sockets[0].fileno() == sock.fileno()
        transport, _ = await within(
            loop.create_connection(Recorder, *sock.getsockname())
        )
        peer = await within(accepted.get())
        transport.close()
        await peer.until_event("lost")
        await close_server(server)
        assert sock.fileno() == -1

    run(main())


def test_connect_accepted_socket(run):
    async def main():
        loop = asyncio.get_running_loop()
        client, accepted = tcp_pair()
        with client:
            transport, protocol = await loop.connect_accepted_socket(Recorder, accepted)
            assert protocol.events == ["made"]
            await loop.sock_sendall(client, b"hello")
            await protocol.until_received(5)
            transport.write(b"back")
            assert await within(loop.sock_recv(client, 10)) == b"back"
            transport.close()
            await protocol.until_event("lost")
            assert await within(loop.sock_recv(client, 10)) == b""

    run(main())


def test_loop_sendfile(run):
    async def main():
        loop = asyncio.get_running_loop()
        data = os.urandom(1024 * 1024 + 17)
        server, accepted = await tcp_server()
        transport, _ = await within(loop.create_connection(Recorder, *address(server)))
        peer = await within(accepted.get())
        with tempfile.TemporaryFile() as file:
            file.write(data)
            file.seek(0)
            assert (
                await within(loop.sendfile(transport, file, offset=5, count=100)) == 100
            )
            await peer.until_received(100)
            assert peer.data == data[5:105]
            peer.data.clear()
            assert await within(loop.sendfile(transport, file, 0)) == len(data)
            await peer.until_received(len(data))
            assert peer.data == data
        transport.write(b"and the transport still works")
        await peer.until_received(len(data) + 29)
        transport.close()
        await peer.until_event("lost")
        await close_server(server)

    run(main())


# -- streams ------------------------------------------------------------------


async def _echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


def test_streams_echo_megabytes(run):
    async def main():
        server = await asyncio.start_server(_echo, LOCAL, 0)
        reader, writer = await within(asyncio.open_connection(*address(server)))
        payload = os.urandom(4 * 1024 * 1024)

        async def send():
            writer.write(payload)
            await writer.drain()
            writer.write_eof()

        _, echoed = await within(asyncio.gather(send(), reader.read()))
        assert echoed == payload
        writer.close()
        await within(writer.wait_closed())
        await close_server(server)

    run(main())


def test_streams_readline_readexactly_readuntil(run):
    async def main():
        server = await asyncio.start_server(_echo, LOCAL, 0)
        reader, writer = await within(asyncio.open_connection(*address(server)))
        writer.write(b"line one\nEXACT|rest;")
        writer.write_eof()
        assert await within(reader.readline()) == b"line one\n"
        assert await within(reader.readexactly(5)) == b"EXACT"
        assert await within(reader.readuntil(b";")) == b"|rest;"
        with pytest.raises(asyncio.IncompleteReadError) as caught:
            await within(reader.readexactly(1))
        assert caught.value.partial == b""
        assert reader.at_eof()
        writer.close()
        await within(writer.wait_closed())
        await close_server(server)

    run(main())


# -- flow control, half-close, abort, extra info ------------------------------


def test_pause_reading_and_resume_reading(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server()
        transport, protocol = await within(
            loop.create_connection(Recorder, *address(server))
        )
        peer = await within(accepted.get())
        transport.pause_reading()
        transport.pause_reading()  # idempotent
        assert not transport.is_reading()
        peer.transport.write(b"held back")
        await asyncio.sleep(0.1)
        assert protocol.data == b""
        transport.resume_reading()
        assert transport.is_reading()
        await protocol.until_received(9)
        assert protocol.data == b"held back"
        transport.close()
        await peer.until_event("lost")
        await close_server(server)

    run(main())


def test_write_buffer_limits_pause_and_resume_writing(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server()
        transport, protocol = await within(
            loop.create_connection(Recorder, *address(server))
        )
        peer = await within(accepted.get())
        peer.transport.pause_reading()  # the peer doesn't read: buffers fill up
        transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        chunk = b"x" * 65536
        written = 0
        while "pause_writing" not in protocol.events:
            assert written < 256 * 1024 * 1024, "pause_writing never came"
            transport.write(chunk)
            written += len(chunk)
            await asyncio.sleep(0)
        assert transport.get_write_buffer_size() > 64 * 1024
        assert "resume_writing" not in protocol.events
        peer.transport.resume_reading()
        await protocol.until_event("resume_writing")
        assert transport.get_write_buffer_size() <= 16 * 1024
        await peer.until_received(written)
        assert len(peer.data) == written
        assert protocol.events == ["made", "pause_writing", "resume_writing"]
        transport.close()
        await peer.until_event("lost")
        await close_server(server)

    run(main())


def test_write_eof_half_close(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server(keep_open_on_eof=True)
        transport, protocol = await within(
            loop.create_connection(Recorder, *address(server))
        )
        peer = await within(accepted.get())
        assert transport.can_write_eof()
        transport.write(b"request")
        transport.write_eof()
        with pytest.raises(RuntimeError):
            transport.write(b"too late")
        await peer.until_event("eof")
        assert peer.data == b"request"
        assert not peer.transport.is_closing()  # eof_received returned True
        peer.transport.write(b"response")
        peer.transport.close()
        await protocol.until_event("lost")
        assert protocol.data == b"response"
        assert protocol.events == ["made", "eof", "lost"]
        assert protocol.lost_exc is None
        await peer.until_event("lost")
        assert peer.events == ["made", "eof", "lost"]
        await close_server(server)

    run(main())


def test_abort_drops_buffered_data(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server()
        transport, protocol = await within(
            loop.create_connection(Recorder, *address(server))
        )
        peer = await within(accepted.get())
        peer.transport.pause_reading()
        while transport.get_write_buffer_size() == 0:
            transport.write(b"y" * 1024 * 1024)
            await asyncio.sleep(0)
        transport.abort()
        assert transport.is_closing()
        await protocol.until_event("lost")
        assert protocol.lost_exc is None
        assert transport.get_write_buffer_size() == 0
        peer.transport.resume_reading()
        await peer.until_event("lost")
        await close_server(server)

    run(main())


def test_protocol_error_is_fatal_to_connection(run):
    async def main():
        loop = asyncio.get_running_loop()
        contexts = []
        loop.set_exception_handler(lambda loop, context: contexts.append(context))

        class Broken(Recorder):
            def data_received(self, data):
                raise ZeroDivisionError

        server, accepted = await tcp_server()
        _, protocol = await within(loop.create_connection(Broken, *address(server)))
        peer = await within(accepted.get())
        peer.transport.write(b"boom")
        await protocol.until_event("lost")
        assert isinstance(protocol.lost_exc, ZeroDivisionError)
        assert [type(c["exception"]) for c in contexts] == [ZeroDivisionError]
        assert "data_received" in contexts[0]["message"]
        await peer.until_event("lost")
        await close_server(server)

    run(main())


def test_get_extra_info(run):
    async def main():
        loop = asyncio.get_running_loop()
        server, accepted = await tcp_server()
        transport, protocol = await within(
            loop.create_connection(Recorder, *address(server))
        )
        peer = await within(accepted.get())
        sock = transport.get_extra_info("socket")
        assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
        assert transport.get_extra_info("peername") == address(server)
        assert transport.get_extra_info("sockname") == sock.getsockname()
        assert peer.transport.get_extra_info("peername") == sock.getsockname()
        assert transport.get_extra_info("peercert") is None
        assert transport.get_extra_info("no such key", "default") == "default"
        assert transport.get_protocol() is protocol
        assert transport.get_write_buffer_size() == 0
        assert not transport.is_closing()
        transport.close()
        assert transport.is_closing()
        await protocol.until_event("lost")
        await peer.until_event("lost")
        await close_server(server)

    run(main())


@pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback (::1) here")
def test_streams_over_ipv6(run):
    async def main():
        server = await asyncio.start_server(_echo, "::1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        reader, writer = await within(asyncio.open_connection(host, port))
        assert writer.get_extra_info("peername")[:2] == ("::1", port)
        writer.write(b"six")
        writer.write_eof()
        assert await within(reader.read()) == b"six"
        writer.close()
        await within(writer.wait_closed())
        await close_server(server)

    run(main())
