"""Real third-party asyncio libraries on the loop: aiohttp (server and client),
httpx (through anyio, which picks its backend with sniffio), websockets.

Every test body runs on stock asyncio and on trioloop; servers and clients
share the loop under test and talk over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
import os

import pytest
import sniffio
from _support import within

aiohttp = pytest.importorskip("aiohttp", reason="aiohttp is in the 'test' extra")
httpx = pytest.importorskip("httpx", reason="httpx is in the 'test' extra")
websockets = pytest.importorskip(
    "websockets", reason="websockets is in the 'test' extra"
)
from aiohttp import web


def _app():
    async def hello(request):
        return web.json_response(
            {
                "hello": request.query.get("name"),
                "library": sniffio.current_async_library(),
            }
        )

    async def echo(request):
        return web.Response(body=await request.read())

    async def stream(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(64):
            await response.write(bytes([i]) * 16384)
        await response.write_eof()
        return response

    async def ws(request):
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            await socket.send_str(message.data.upper())
        return socket

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_get("/hello", hello)
    app.router.add_post("/echo", echo)
    app.router.add_get("/stream", stream)
    app.router.add_get("/ws", ws)
    return app


class aiohttp_server:
    """``async with aiohttp_server(ssl_context) as base_url:`` on 127.0.0.1."""

    def __init__(self, ssl_context=None):
        self.ssl_context = ssl_context
        self.runner = web.AppRunner(_app())

    async def __aenter__(self):
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = self.runner.addresses[0][1]
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://localhost:{port}"

    async def __aexit__(self, *exc_info):
        await self.runner.cleanup()


STREAMED = b"".join(bytes([i]) * 16384 for i in range(64))


def test_aiohttp_client_and_server(run):
    async def main():
        async with aiohttp_server() as base, aiohttp.ClientSession() as session:
            async with session.get(
                f"{base}/hello", params={"name": "trio"}
            ) as response:
                assert response.status == 200
                assert await response.json() == {"hello": "trio", "library": "asyncio"}
            payload = os.urandom(2 * 1024 * 1024)
            # (aiohttp wants large bodies as file-like objects, not bytes)
            async with session.post(
                f"{base}/echo", data=io.BytesIO(payload)
            ) as response:
                assert await response.read() == payload
            async with session.get(f"{base}/stream") as response:
                chunks = [chunk async for chunk in response.content.iter_chunked(10000)]
                assert b"".join(chunks) == STREAMED
            async with session.ws_connect(f"{base}/ws") as ws:
                await ws.send_str("shout")
                assert (await within(ws.receive())).data == "SHOUT"

    run(main())


def test_aiohttp_concurrent_requests(run):
    async def main():
        async with aiohttp_server() as base, aiohttp.ClientSession() as session:

            async def one(i):
                async with session.get(
                    f"{base}/hello", params={"name": str(i)}
                ) as response:
                    return (await response.json())["hello"]

            results = await within(asyncio.gather(*(one(i) for i in range(50))))
            assert results == [str(i) for i in range(50)]

    run(main())


def test_httpx_against_aiohttp_server(run):
    async def main():
        async with aiohttp_server() as base, httpx.AsyncClient() as client:
            assert sniffio.current_async_library() == "asyncio"
            response = await within(
                client.get(f"{base}/hello", params={"name": "httpx"})
            )
            assert response.json() == {"hello": "httpx", "library": "asyncio"}
            payload = os.urandom(1024 * 1024)
            response = await within(client.post(f"{base}/echo", content=payload))
            assert response.content == payload
            async with client.stream("GET", f"{base}/stream") as response:
                assert b"".join([c async for c in response.aiter_bytes()]) == STREAMED

    run(main())


def test_httpx_over_tls(run, tls):
    async def main():
        async with (
            aiohttp_server(tls.server) as base,
            httpx.AsyncClient(verify=tls.client) as client,
        ):
            response = await within(client.get(f"{base}/hello", params={"name": "tls"}))
            assert response.json()["hello"] == "tls"
            assert response.http_version == "HTTP/1.1"

    run(main())


def test_websockets_server_and_client(run):
    async def main():
        from websockets.asyncio.client import connect
        from websockets.asyncio.server import serve

        async def echo(connection):
            async for message in connection:
                await connection.send(message)

        async with serve(echo, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", max_size=None) as ws:
                await ws.send("text")
                assert await within(ws.recv()) == "text"
                big = os.urandom(512 * 1024)
                await ws.send(big)
                assert await within(ws.recv()) == big
                pong = await ws.ping()
                assert await within(pong) is not None

    run(main())
