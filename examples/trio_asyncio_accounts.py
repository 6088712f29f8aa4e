"""A trio-asyncio program, migrated: user accounts in PostgreSQL (asyncpg).

This program was written against trio-asyncio 0.16's API: a Trio program
that keeps an asyncio-side repository (asyncpg code) and calls it with
``run_aio_coroutine``, ``aio_as_trio`` and ``run_aio_generator``; the
asyncio side hashes passwords in a ``TrioExecutor`` that shares a Trio
``CapacityLimiter`` with the Trio side's own threads, starts Trio tasks with
``run_trio_task`` and awaits Trio code through ``trio_as_aio``.  The
migration to trioloop was one line, the import below; nothing else changed.
(tests/test_examples.py runs it on every supported Python.)

Run it against a PostgreSQL server (``scripts/services.sh`` starts a
throwaway one): ``TRIOLOOP_PG_DSN=postgresql://user@127.0.0.1/db python
examples/trio_asyncio_accounts.py`` (needs ``pip install asyncpg``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os

import asyncpg
import trio

import trioloop.compat as trio_asyncio  # was: import trio_asyncio

DSN = os.environ.get("TRIOLOOP_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
# One table per run: several runs (say, CI's parallel lanes) may share a server.
TABLE = f"accounts_{os.getpid()}"
USERS = {"ada": "lovelace", "bob": "builder", "cy": "borg", "di": "versity"}

#: Blocking work, from either side, runs at most two threads at a time.
THREADS = trio.CapacityLimiter(2)


def hash_password(password: str, salt: bytes) -> bytes:
    """Deliberately slow (blocking): runs in a worker thread."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 20_000)


class Accounts:
    """The asyncio side: a repository written for asyncpg."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.executor = trio_asyncio.TrioExecutor(THREADS)
        self.audit: list[str] = []
        self.all_audited = trio.Event()

    async def create(self, name: str, password: str) -> None:
        loop = asyncio.get_running_loop()
        salt = os.urandom(16)
        digest = await loop.run_in_executor(
            self.executor, hash_password, password, salt
        )
        await self.pool.execute(
            f"INSERT INTO {TABLE} (name, salt, digest) VALUES ($1, $2, $3)",
            name,
            salt,
            digest,
        )
        # Tell the Trio side without waiting for it: a Trio task of the loop.
        trio_asyncio.current_loop.get().run_trio_task(self.record, f"created {name}")

    async def record(self, line: str) -> None:
        """Trio code, started from asyncio code by run_trio_task."""
        await trio.lowlevel.checkpoint()
        self.audit.append(line)
        if len(self.audit) == len(USERS):
            self.all_audited.set()

    async def check(self, name: str, password: str) -> bool:
        row = await self.pool.fetchrow(
            f"SELECT salt, digest FROM {TABLE} WHERE name = $1", name
        )
        if row is None:
            return False
        # asyncio code awaiting Trio code: the hash in a Trio thread.
        digest = await trio_asyncio.trio_as_aio(trio.to_thread.run_sync)(
            hash_password, password, row["salt"], limiter=THREADS
        )
        return hmac.compare_digest(digest, row["digest"])

    async def names(self):  # an asyncio async generator, iterated from Trio
        async with self.pool.acquire() as conn, conn.transaction():
            async for record in conn.cursor(f"SELECT name FROM {TABLE} ORDER BY name"):
                yield record["name"]


async def main() -> None:
    loop = trio_asyncio.current_loop.get()
    pool = await loop.run_aio_coroutine(
        asyncpg.create_pool(DSN, min_size=1, max_size=3)
    )
    try:
        accounts = Accounts(pool)
        await trio_asyncio.aio_as_trio(pool.execute)(
            f"CREATE TABLE {TABLE} (name text PRIMARY KEY, salt bytea, digest bytea)"
        )

        # Trio tasks sign users up concurrently through the asyncio side.
        async with trio.open_nursery() as nursery:
            for name, password in USERS.items():
                nursery.start_soon(
                    trio_asyncio.aio_as_trio(accounts.create), name, password
                )
        await accounts.all_audited.wait()
        print(f"audit: {sorted(accounts.audit)}")

        names = [
            name
            async for name in trio_asyncio.run_aio_generator(loop, accounts.names())
        ]
        print(f"accounts: {names}")

        check = trio_asyncio.aio_as_trio(accounts.check)
        print(f"ada/lovelace accepted: {await check('ada', 'lovelace')}")
        print(f"ada/wrong accepted: {await check('ada', 'wrong')}")
        print(f"zed accepted: {await check('zed', 'anything')}")

        # A Trio timeout cancels a slow asyncio query (and asyncpg the statement).
        with trio.move_on_after(0.2) as scope:
            await trio_asyncio.aio_as_trio(pool.execute)("SELECT pg_sleep(30)")
        print(f"slow query cancelled by Trio: {scope.cancelled_caught}")
        await trio_asyncio.aio_as_trio(pool.execute)(f"DROP TABLE {TABLE}")
    finally:
        await loop.run_aio_coroutine(pool.close())


if __name__ == "__main__":
    trio_asyncio.run(main)
