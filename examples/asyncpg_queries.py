"""asyncpg against PostgreSQL, from Trio code.

A connection pool (an asyncio object) serves several Trio tasks at once; a
transaction commits when the Trio block inside it ends, and rolls back when
Trio code raises there; and a Trio timeout
cancels a slow query: asyncpg sees ``CancelledError``, asks the server to
cancel the statement, and the connection stays usable.

Run it against a PostgreSQL server (``scripts/services.sh`` starts a
throwaway one): ``TRIOLOOP_PG_DSN=postgresql://user@127.0.0.1/db python
examples/asyncpg_queries.py`` (needs ``pip install asyncpg``).
"""

from __future__ import annotations

import os

import asyncpg
import trio

import trioloop

DSN = os.environ.get("TRIOLOOP_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
# One table per run: several runs (say, CI's parallel lanes) may share a server.
TABLE = f"orders_{os.getpid()}"
aio = trioloop.aio_as_trio


async def add_order(pool: asyncpg.Pool, customer: str, amount: int) -> None:
    """Trio code: borrow a connection from the pool, insert one row."""
    async with aio(pool.acquire)() as conn:
        await aio(conn.execute)(
            f"INSERT INTO {TABLE} (customer, amount) VALUES ($1, $2)", customer, amount
        )


async def main() -> None:
    async with (
        trioloop.open_loop(),
        aio(asyncpg.create_pool)(DSN, min_size=2, max_size=4) as pool,
    ):
        version = await aio(pool.fetchval)("SHOW server_version")
        print(f"connected to PostgreSQL {version.split()[0]}")
        await aio(pool.execute)(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (customer text, amount int)"
        )
        await aio(pool.execute)(f"TRUNCATE {TABLE}")

        # Several Trio tasks share the asyncio pool.
        async with trio.open_nursery() as nursery:
            for i, customer in enumerate(["ada", "bob", "cy", "di", "ed", "flo"]):
                nursery.start_soon(add_order, pool, customer, 10 * (i + 1))
        total = await aio(pool.fetchval)(f"SELECT sum(amount) FROM {TABLE}")
        print(f"6 orders inserted concurrently, total {total}")

        async with aio(pool.acquire)() as conn:
            # A transaction commits when the Trio block inside it ends normally...
            async with aio(conn.transaction)():
                await aio(conn.execute)(f"INSERT INTO {TABLE} VALUES ('gus', 70)")
            count = await aio(conn.fetchval)(f"SELECT count(*) FROM {TABLE}")
            print(f"transaction committed: {count} orders")

            # ...and rolls back when Trio code raises inside it.
            try:
                async with aio(conn.transaction)():
                    await aio(conn.execute)(f"DELETE FROM {TABLE}")
                    raise LookupError("changed my mind")
            except LookupError as exc:
                print(f"transaction rolled back ({exc})")
            count = await aio(conn.fetchval)(f"SELECT count(*) FROM {TABLE}")
            print(f"orders still there: {count}")

            # A Trio timeout cancels a slow query on the server too.
            with trio.move_on_after(0.2) as scope:
                await aio(conn.execute)("SELECT pg_sleep(30)")
            print(f"slow query cancelled by Trio: {scope.cancelled_caught}")
            print(
                f"connection still usable: {await aio(conn.fetchval)('SELECT 1') == 1}"
            )

        await aio(pool.execute)(f"DROP TABLE {TABLE}")


if __name__ == "__main__":
    trio.run(main)
