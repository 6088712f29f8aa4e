"""aiohttp server and client inside ``trio.run``, beside a Trio task.

The aiohttp web server is asyncio code; it runs on trioloop inside a Trio
program.  A Trio task keeps a running count, and the server's handler asks it
for the next number through ``trioloop.trio_as_aio``.  The client side is
Trio code that uses aiohttp's ``ClientSession`` through
``trioloop.aio_as_trio``.

Run it: ``python examples/aiohttp_app.py`` (needs ``pip install aiohttp``).
"""

from __future__ import annotations

import aiohttp
import trio
from aiohttp import web

import trioloop


class Counter:
    """Trio code: a task that hands out numbers to whoever asks."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[int](0)

    async def run(self) -> None:
        number = 0
        while True:
            number += 1
            await self._send.send(number)

    async def next(self) -> int:
        return await self._receive.receive()


# -- the server: asyncio code ---------------------------------------------------


def make_app(counter: Counter) -> web.Application:
    next_number = trioloop.trio_as_aio(counter.next)

    async def hello(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "world")
        number = await next_number()  # asyncio code awaiting Trio code
        return web.json_response({"greeting": f"hello, {name}", "visitor": number})

    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/{name}", hello)
    return app


async def start_server(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


# -- the client: Trio code using aiohttp ---------------------------------------


async def fetch_all(base_url: str, names: list[str]) -> list[dict[str, object]]:
    replies: list[dict[str, object]] = []
    async with trioloop.aio_as_trio(aiohttp.ClientSession(base_url)) as session:

        async def fetch(name: str) -> None:
            async with trioloop.aio_as_trio(session.get)(f"/{name}") as response:
                response.raise_for_status()
                replies.append(await trioloop.aio_as_trio(response.json)())

        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(fetch, name)
    return sorted(replies, key=lambda reply: reply["visitor"])  # type: ignore[arg-type,return-value]


async def main() -> None:
    async with trioloop.open_loop():
        counter = Counter()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(counter.run)
            runner, port = await trioloop.aio_as_trio(start_server)(make_app(counter))
            print(f"aiohttp serving on http://127.0.0.1:{port}")
            try:
                for reply in await fetch_all(
                    f"http://127.0.0.1:{port}", ["alice", "bob", "carol"]
                ):
                    print(f"visitor {reply['visitor']}: {reply['greeting']}")
            finally:
                await trioloop.aio_as_trio(runner.cleanup)()
            nursery.cancel_scope.cancel()
    print("server closed")


if __name__ == "__main__":
    trio.run(main)
