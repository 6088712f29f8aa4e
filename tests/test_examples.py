"""The programs in ``examples/`` run, as a user would run them, and say what
they should.

Each example runs in a subprocess of this Python with ``-X dev`` (so
resource warnings and never-awaited coroutines are reported) and a timeout.
Examples that talk to PostgreSQL or Redis read ``TRIOLOOP_PG_DSN`` /
``TRIOLOOP_REDIS_URL``; when those are unset, the ``services`` fixture runs
``scripts/services.sh`` to install and start throwaway servers, and skips
only where that cannot work (not root, or no apt-get to install them).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SERVICES_SCRIPT = ROOT / "scripts" / "services.sh"
SERVICE_VARS = ("TRIOLOOP_PG_DSN", "TRIOLOOP_REDIS_URL")

#: stderr text that means trioloop (or an example) leaked or lost something.
TROUBLE = (
    "ResourceWarning",
    "was never awaited",
    "Task was destroyed",
    "exception was never retrieved",
    "Exception in callback",
    "Traceback",
)


def run_example(
    name: str, env: dict[str, str] | None = None, timeout: float = 60
) -> str:
    """Run ``examples/name`` to completion; return its stdout."""
    result = subprocess.run(
        [sys.executable, "-X", "dev", str(EXAMPLES / name)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    report = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.returncode == 0, report
    trouble = [word for word in TROUBLE if word in result.stderr]
    assert not trouble, f"{trouble} in stderr\n{report}"
    return result.stdout


def _servers_installed() -> bool:
    have_pg = any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which(
        "initdb"
    )
    return bool(have_pg and shutil.which("redis-server") and shutil.which("redis-cli"))


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    """``TRIOLOOP_PG_DSN`` and ``TRIOLOOP_REDIS_URL``: from the environment,
    else from ``scripts/services.sh`` (which installs and starts servers)."""
    if all(os.environ.get(var) for var in SERVICE_VARS):
        return {var: os.environ[var] for var in SERVICE_VARS}
    if not _servers_installed():
        if os.geteuid() != 0:
            pytest.skip(
                "PostgreSQL/Redis not installed and not root: run scripts/services.sh "
                "as root, or set TRIOLOOP_PG_DSN and TRIOLOOP_REDIS_URL"
            )
        if shutil.which("apt-get") is None:
            pytest.skip(
                "PostgreSQL/Redis not installed and no apt-get to install them: "
                "set TRIOLOOP_PG_DSN and TRIOLOOP_REDIS_URL"
            )
    result = subprocess.run(
        ["bash", str(SERVICES_SCRIPT)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"scripts/services.sh failed:\n{result.stderr}"
    found = dict(re.findall(r"^export (\w+)=(\S+)$", result.stdout, re.MULTILINE))
    assert set(SERVICE_VARS) <= found.keys(), result.stdout
    return {var: found[var] for var in SERVICE_VARS}


def need(module: str) -> None:
    pytest.importorskip(
        module, reason=f"{module} not installed: pip install -e '.[examples]'"
    )


def test_aiohttp_app() -> None:
    need("aiohttp")
    out = run_example("aiohttp_app.py")
    assert re.search(r"^aiohttp serving on http://127\.0\.0\.1:\d+$", out, re.MULTILINE)
    greetings = re.findall(r"^visitor (\d): hello, (\w+)$", out, re.MULTILINE)
    assert sorted(number for number, _ in greetings) == ["1", "2", "3"]
    assert sorted(name for _, name in greetings) == ["alice", "bob", "carol"]
    assert out.endswith("server closed\n")


def test_websockets_echo() -> None:
    need("websockets")
    out = run_example("websockets_echo.py")
    assert "ann got: ann says 0 | ann says 1 | ann says 2\n" in out
    assert "ben got: ben says 0 | ben says 1 | ben says 2\n" in out
    assert out.endswith("log has 6 lines\n")


def test_httpx_both_flavours() -> None:
    need("httpx")
    out = run_example("httpx_both_flavours.py")
    assert out.splitlines() == [
        "client ran on asyncio: /from-asyncio served by trio",
        "client ran on trio: /from-trio served by trio",
        "slow asyncio-side request cancelled by a Trio timeout: True",
    ]


def test_mixed_nursery() -> None:
    out = run_example("mixed_nursery.py")
    lines = out.splitlines()
    scene1 = lines[
        lines.index("1. Trio cancels a mixed nursery") + 1 : lines.index(
            "2. asyncio cancels Trio"
        )
    ]
    assert sorted(scene1) == [
        "  poller (asyncio): CancelledError, cleaned up, request req-42",
        "  ticker (Trio): Cancelled",
    ]
    assert lines[lines.index("2. asyncio cancels Trio") :] == [
        "2. asyncio cancels Trio",
        "  slow step (Trio): Cancelled",
        "  asyncio.wait_for timed out; the Trio side had already finished",
        "3. an asyncio exception cancels its Trio siblings",
        "  ticker (Trio): Cancelled",
        "  nursery raised ValueError('bad data from the asyncio side'), raised in asyncio_failure()",
    ]


def test_mock_clock() -> None:
    out = run_example("mock_clock.py", timeout=30)
    assert out.splitlines() == [
        "loop.time() is trio.current_time(): True",
        "slept an hour (loop.time() = 3600)",
        "wait_for timed out after 30 minutes (loop.time() = 5400)",
        "call_later(7200) fired",
        "virtual time elapsed: 2.5 hours",
        "real time elapsed under 5 s: True",
    ]


def test_asyncpg_queries(request: pytest.FixtureRequest) -> None:
    need("asyncpg")  # before starting servers that would go unused
    out = run_example("asyncpg_queries.py", env=request.getfixturevalue("services"))
    lines = out.splitlines()
    assert re.fullmatch(r"connected to PostgreSQL \d+(\.\d+)*", lines[0]), out
    assert lines[1:] == [
        "6 orders inserted concurrently, total 210",
        "transaction committed: 7 orders",
        "transaction rolled back (changed my mind)",
        "orders still there: 7",
        "slow query cancelled by Trio: True",
        "connection still usable: True",
    ]


def test_redis_pubsub(request: pytest.FixtureRequest) -> None:
    need("redis")
    out = run_example("redis_pubsub.py", env=request.getfixturevalue("services"))
    assert out.splitlines() == [
        "GET -> hello from Trio",
        "pipeline INCR, INCR -> 1",
        "received: trio hosts asyncio",
        "received: redis works too",
        "listener: cancelled, unsubscribing",
    ]


def test_trio_asyncio_accounts(request: pytest.FixtureRequest) -> None:
    """A program written for trio-asyncio runs with only its import changed."""
    need("asyncpg")
    source = (EXAMPLES / "trio_asyncio_accounts.py").read_text()
    imports = [
        (alias.name, alias.asname)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
        if "trio" in (getattr(node, "module", None) or alias.name)
    ]
    # trioloop appears in one import only, standing in for trio_asyncio.
    assert imports == [("trio", None), ("trioloop.compat", "trio_asyncio")]
    out = run_example(
        "trio_asyncio_accounts.py", env=request.getfixturevalue("services")
    )
    assert out.splitlines() == [
        "audit: ['created ada', 'created bob', 'created cy', 'created di']",
        "accounts: ['ada', 'bob', 'cy', 'di']",
        "ada/lovelace accepted: True",
        "ada/wrong accepted: False",
        "zed accepted: False",
        "slow query cancelled by Trio: True",
    ]
