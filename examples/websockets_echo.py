"""websockets server and client inside ``trio.run``.

The server is the ``websockets`` library's asyncio server, running on
trioloop; for each message it asks Trio code (a ``trio.Lock``-guarded
shared log) through ``trioloop.trio_as_aio``.  The client is Trio code using
the asyncio client through ``trioloop.aio_as_trio``: ``connect()`` becomes a
Trio async context manager, ``send``/``recv`` Trio async functions.

Run it: ``python examples/websockets_echo.py`` (needs ``pip install websockets``).
"""

from __future__ import annotations

import trio
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

import trioloop


class Log:
    """Trio code: a log shared by every connection."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = trio.Lock()

    async def add(self, line: str) -> int:
        async with self._lock:
            await trio.sleep(0.001)  # pretend to write it somewhere
            self.lines.append(line)
            return len(self.lines)


def make_handler(log: Log):  # type: ignore[no-untyped-def]
    add = trioloop.trio_as_aio(log.add)

    async def echo(websocket: ServerConnection) -> None:
        """asyncio code: echo each message with its line number in the log."""
        async for message in websocket:
            number = await add(str(message))  # asyncio awaiting Trio
            await websocket.send(f"{number}: {message}")

    return echo


async def client(uri: str, name: str, count: int) -> list[str]:
    """Trio code using the asyncio websockets client."""
    replies = []
    async with trioloop.aio_as_trio(connect(uri)) as websocket:
        send = trioloop.aio_as_trio(websocket.send)
        receive = trioloop.aio_as_trio(websocket.recv)
        for i in range(count):
            await send(f"{name} says {i}")
        for _ in range(count):
            replies.append(await receive())
    return replies


async def main() -> None:
    log = Log()
    async with (
        trioloop.open_loop(),
        trioloop.aio_as_trio(serve(make_handler(log), "127.0.0.1", 0)) as server,
    ):
        port = server.sockets[0].getsockname()[1]
        uri = f"ws://127.0.0.1:{port}"
        print(f"websockets serving on {uri}")
        results: dict[str, list[str]] = {}

        async def run_client(name: str) -> None:
            results[name] = await client(uri, name, 3)

        async with trio.open_nursery() as nursery:
            for name in ("ann", "ben"):
                nursery.start_soon(run_client, name)
    for name, replies in sorted(results.items()):
        print(f"{name} got: {' | '.join(reply.split(': ', 1)[1] for reply in replies)}")
    print(f"log has {len(log.lines)} lines")


if __name__ == "__main__":
    trio.run(main)
