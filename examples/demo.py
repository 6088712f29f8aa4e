"""trioloop demo: an asyncio TCP server and asyncio clients, inside trio.run,
beside Trio tasks that talk to the same server.

Run it with ``make demo`` (or ``python examples/demo.py``).
"""

from __future__ import annotations

import asyncio

import trio

import trioloop


async def handle_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """asyncio code: an upper-casing line server."""
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def asyncio_client(port: int, name: str, count: int) -> list[str]:
    """asyncio code: a client using asyncio streams."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = []
    for i in range(count):
        writer.write(f"hello from {name} #{i}\n".encode())
        await writer.drain()
        replies.append((await reader.readline()).decode().strip())
    writer.close()
    await writer.wait_closed()
    return replies


async def trio_client(port: int, count: int) -> list[str]:
    """Trio code: a client using Trio streams against the asyncio server."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    replies = []
    async with stream:
        buffer = b""
        for i in range(count):
            await stream.send_all(f"hello from trio #{i}\n".encode())
            while b"\n" not in buffer:
                buffer += await stream.receive_some(1024)
            line, buffer = buffer.split(b"\n", 1)
            replies.append(line.decode())
    return replies


async def heartbeat(beats: list[float]) -> None:
    """Trio code: keeps ticking while asyncio works (nobody starves)."""
    while True:
        beats.append(trio.current_time())
        await trio.sleep(0.01)


async def main() -> None:
    async with trioloop.open_loop() as loop:
        server = await trioloop.aio_as_trio(asyncio.start_server)(
            handle_client, "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        print(
            f"asyncio server on 127.0.0.1:{port}, hosted by Trio via {type(loop).__name__}"
        )

        beats: list[float] = []
        results: dict[str, list[str]] = {}
        async with trio.open_nursery() as nursery:
            nursery.start_soon(heartbeat, beats)

            async def run_asyncio_client(name: str) -> None:
                results[name] = await trioloop.aio_as_trio(asyncio_client)(
                    port, name, 3
                )

            async def run_trio_client() -> None:
                results["trio"] = await trio_client(port, 3)

            async with trio.open_nursery() as clients:
                for name in ("alice", "bob"):
                    clients.start_soon(run_asyncio_client, name)
                clients.start_soon(run_trio_client)
            nursery.cancel_scope.cancel()

        server.close()
        await trioloop.aio_as_trio(server.wait_closed)()

    for name, replies in sorted(results.items()):
        for reply in replies:
            print(f"  {name:>5} got {reply!r}")
    print(
        f"Trio heartbeat ticked {len(beats)} times meanwhile; loop closed: {loop.is_closed()}"
    )


if __name__ == "__main__":
    trio.run(main)
