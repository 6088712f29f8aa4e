"""httpx from Trio, both ways, in one program.

httpx runs on Trio natively (through anyio) and on asyncio.  Which one it
uses is decided by ``sniffio``, per call, from the code that is running:

* Trio code uses ``httpx.AsyncClient`` directly: sniffio says ``"trio"``;
* asyncio code - a library you call through ``trioloop.aio_as_trio`` -
  uses its own ``httpx.AsyncClient``: trioloop makes sniffio say
  ``"asyncio"`` while asyncio code runs, so httpx takes its asyncio backend.

Both run side by side in one Trio nursery, against a small HTTP server
written in Trio.  A Trio timeout cancels an asyncio-side request too.

Run it: ``python examples/httpx_both_flavours.py`` (needs ``pip install httpx``).
"""

from __future__ import annotations

import functools

import httpx
import sniffio
import trio

import trioloop

# -- a tiny HTTP server in Trio ------------------------------------------------


async def handle(stream: trio.SocketStream) -> None:
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = await stream.receive_some(4096)
        if not chunk:
            return
        request += chunk
    path = request.split(b" ", 2)[1].decode()
    if path == "/slow":
        await trio.sleep(30)
    body = f"{path} served by {sniffio.current_async_library()}".encode()
    await stream.send_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await stream.aclose()


# -- the two clients ----------------------------------------------------------


async def fetch_from_trio(base_url: str) -> str:
    """Trio code: httpx on its Trio backend."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/from-trio")
    return f"client ran on {sniffio.current_async_library()}: {response.text}"


async def fetch_from_asyncio(base_url: str) -> str:
    """asyncio code (say, inside an asyncio-only library): httpx on asyncio."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/from-asyncio")
    return f"client ran on {sniffio.current_async_library()}: {response.text}"


async def slow_from_asyncio(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        await client.get("/slow")


async def main() -> None:
    async with trioloop.open_loop(), trio.open_nursery() as servers:
        listeners = await servers.start(
            functools.partial(trio.serve_tcp, handle, 0, host="127.0.0.1")
        )
        base_url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"

        results: list[str] = []

        async def trio_side() -> None:
            results.append(await fetch_from_trio(base_url))

        async def asyncio_side() -> None:
            results.append(await trioloop.aio_as_trio(fetch_from_asyncio)(base_url))

        async with trio.open_nursery() as clients:
            clients.start_soon(trio_side)
            clients.start_soon(asyncio_side)
        for line in sorted(results):
            print(line)

        with trio.move_on_after(0.2) as scope:
            await trioloop.aio_as_trio(slow_from_asyncio)(base_url)
        print(
            f"slow asyncio-side request cancelled by a Trio timeout: {scope.cancelled_caught}"
        )
        servers.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
