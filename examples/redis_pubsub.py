"""redis-py's asyncio client (``redis.asyncio``) used from Trio.

Trio code stores and reads keys, runs a pipeline, and listens to a pub/sub
channel while another Trio task publishes to it - all through
``trioloop.aio_as_trio``.  A Trio cancel scope ends the listener; the
asyncio side sees ``CancelledError`` and unsubscribes on its way out.

Run it against a Redis server (``scripts/services.sh`` starts a throwaway
one): ``TRIOLOOP_REDIS_URL=redis://127.0.0.1:6379/0 python
examples/redis_pubsub.py`` (needs ``pip install redis``).
"""

from __future__ import annotations

import asyncio
import os

import redis.asyncio as redis
import trio

import trioloop

URL = os.environ.get("TRIOLOOP_REDIS_URL", "redis://127.0.0.1:6379/0")
# One channel per run: several runs (say, CI's parallel lanes) may share a server.
CHANNEL = f"trioloop-example:news:{os.getpid()}"


async def listen(
    client: redis.Redis, ready: trio.Event, news: trio.MemorySendChannel[str]
) -> None:
    """asyncio code: subscribe, then pass messages on to Trio until cancelled."""
    send = trioloop.trio_as_aio(news.send)
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL)
    ready.set()  # Event.set needs no Trio task: fine from asyncio code
    try:
        async for message in pubsub.listen():
            if message["type"] == "message":
                await send(message["data"])  # asyncio awaiting Trio
    except asyncio.CancelledError:
        print("listener: cancelled, unsubscribing")
        raise
    finally:
        await pubsub.unsubscribe(CHANNEL)
        await pubsub.aclose()


async def main() -> None:
    async with trioloop.open_loop():
        client = redis.Redis.from_url(URL, decode_responses=True)
        aio = trioloop.aio_as_trio
        try:
            await aio(client.set)("trioloop-example:greeting", "hello from Trio")
            print("GET ->", await aio(client.get)("trioloop-example:greeting"))

            async with aio(client.pipeline(transaction=True)) as pipe:
                pipe.incr("trioloop-example:counter").incr("trioloop-example:counter")
                pipe.expire("trioloop-example:counter", 60)
                first, second, _ = await aio(pipe.execute)()
            print("pipeline INCR, INCR ->", second - first)

            ready = trio.Event()
            news_in, news_out = trio.open_memory_channel[str](0)
            async with trio.open_nursery() as nursery:

                async def run_listener() -> None:
                    await aio(listen)(client, ready, news_in)

                nursery.start_soon(run_listener)
                await ready.wait()
                for headline in ("trio hosts asyncio", "redis works too"):
                    await aio(client.publish)(CHANNEL, headline)
                    print("received:", await news_out.receive())
                nursery.cancel_scope.cancel()  # a Trio cancel reaches asyncio code
            await aio(client.delete)(
                "trioloop-example:greeting", "trioloop-example:counter"
            )
        finally:
            await aio(client.aclose)()


if __name__ == "__main__":
    trio.run(main)
