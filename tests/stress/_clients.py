"""The load scenario's client process (always stock asyncio).

    python -m tests.stress._clients --port P --conns N --warm W --bytes B --seed S

Talks to its parent over stdin/stdout, one line each way per phase, so the
server can measure itself between phases:

1. opens ``W`` connections (each echoes one byte: its handler runs), prints
   ``WARM`` and waits for a line;
2. opens the rest, prints ``CONNECTED <ok> <failed> <seconds>``, waits;
3. every connection sends ``B`` random bytes in random chunks and checks the
   echo; prints ``RESULT <json>`` and exits.

Connections are opened at most ``--parallel`` at a time, all on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

from ._echo import chunks, exchange_asyncio, handshake, summarize
from ._harness import HOST, gather_bounded, raise_nofile

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(port: int) -> Conn:
    reader, writer = await asyncio.open_connection(HOST, port)
    await handshake(reader, writer)
    return reader, writer


async def open_many(port: int, count: int, parallel: int) -> tuple[list[Conn], int]:
    results = await gather_bounded(parallel, [lambda: connect(port)] * count)
    conns = [r for r in results if not isinstance(r, BaseException)]
    return conns, count - len(conns)


async def wait_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def main(args: argparse.Namespace) -> None:
    raise_nofile()
    started = time.monotonic()
    warm, failed_warm = await open_many(args.port, args.warm, args.parallel)
    print("WARM", flush=True)
    await wait_line()
    rest, failed = await open_many(args.port, args.conns - args.warm, args.parallel)
    conns = warm + rest
    print(
        f"CONNECTED {len(conns)} {failed + failed_warm} {time.monotonic() - started:.3f}",
        flush=True,
    )
    await wait_line()
    started = time.monotonic()
    checks = await asyncio.gather(
        *(
            exchange_asyncio(
                r, w, chunks(random.Random(args.seed + i), args.bytes, args.largest)
            )
            for i, (r, w) in enumerate(conns)
        ),
        return_exceptions=True,
    )
    seconds = time.monotonic() - started
    result = summarize(checks)
    result["traffic_seconds"] = round(seconds, 3)
    print("RESULT " + json.dumps(result), flush=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--conns", type=int, required=True)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--bytes", type=int, default=32768, help="per connection")
    parser.add_argument("--largest", type=int, default=16384, help="largest chunk")
    parser.add_argument("--parallel", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
