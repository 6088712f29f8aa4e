"""Shared fixtures: the same test body runs on stock asyncio and on trioloop.

``run`` runs a coroutine to completion on the loop under test.  It is
parametrized three ways, so a difference between stock asyncio and trioloop
shows up as a failure (as in uvloop's suite):

* ``asyncio``      - stock asyncio's selector loop (``_support.new_stock_loop``);
* ``trioloop``     - trioloop in sync mode (``new_event_loop`` as loop factory);
* ``trioloop-hosted`` - trioloop hosted inside ``trio.run`` (``trioloop.run``).

Every test also checks that it left no file descriptor or thread behind.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from _support import loop_driver, new_stock_loop

import trioloop

FLAVOURS = ["asyncio", "trioloop", "trioloop-hosted"]


def _run_with_factory(
    factory: Callable[[], asyncio.AbstractEventLoop], coro: Any, debug: bool
) -> Any:
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory, debug=debug) as runner:
            return runner.run(coro)
    loop = factory()
    loop.set_debug(debug)
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(
                    asyncio.gather(*pending, return_exceptions=True)
                )
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def run_on(flavour: str, coro: Coroutine[Any, Any, Any], *, debug: bool = False) -> Any:
    """Run ``coro`` to completion on ``flavour``'s loop and return its result."""
    if flavour == "asyncio":
        return _run_with_factory(new_stock_loop, coro, debug)
    if flavour == "trioloop":
        return _run_with_factory(trioloop.new_event_loop, coro, debug)
    if flavour == "trioloop-hosted":
        return trioloop.run(coro, debug=debug)
    raise ValueError(flavour)


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def run(flavour: str) -> Callable[..., Any]:
    def run(coro: Coroutine[Any, Any, Any], *, debug: bool = False) -> Any:
        return run_on(flavour, coro, debug=debug)

    return run


#: Where this process's open fds are listed (Linux; macOS and the BSDs).
#: Windows has no such list: there only threads are checked.
_FD_DIR = next((d for d in ("/proc/self/fd", "/dev/fd") if os.path.isdir(d)), None)


def _open_fds() -> set[int]:
    if _FD_DIR is None:
        return set()
    return {int(fd) for fd in os.listdir(_FD_DIR)}


@pytest.fixture(autouse=True)
def no_leaks() -> Any:
    """Fail a test that leaves a file descriptor or a thread behind."""
    fds = _open_fds()
    threads = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while True:
        gc.collect()
        leaked_fds = _open_fds() - fds
        leaked_threads = [
            t
            for t in set(threading.enumerate()) - threads
            # Trio's thread cache keeps idle workers (guest mode, to_thread)
            # for reuse: they are pooled, not leaked.
            if t.is_alive() and not t.name.startswith("Trio thread")
        ]
        if not (leaked_fds or leaked_threads) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked_fds, f"leaked file descriptors: {sorted(leaked_fds)}"
    assert not leaked_threads, f"leaked threads: {leaked_threads}"


# -- the no-epoll imitation (TRIOLOOP_TEST_NO_EPOLL=1) ----------------------------


def _no_epoll_state() -> str:
    """Check that ``tests/_no_epoll/sitecustomize.py`` hid epoll from all but
    Trio, and say so in one line; raise if any part of it did not take."""
    import select
    import selectors

    import trio

    if (
        hasattr(select, "epoll")
        or selectors.DefaultSelector is not selectors.PollSelector
    ):
        raise RuntimeError(
            "epoll is not hidden: put tests/_no_epoll on PYTHONPATH "
            f"(select.epoll: {hasattr(select, 'epoll')}, "
            f"DefaultSelector: {selectors.DefaultSelector.__name__})"
        )
    forced = os.environ.pop("TRIOLOOP_DRIVER", None)
    try:  # what ``auto`` picks, whatever the run forces
        driver = loop_driver()
    finally:
        if forced is not None:
            os.environ["TRIOLOOP_DRIVER"] = forced
    if driver != "portable":
        raise RuntimeError(f"without epoll, auto picked the {driver} driver")

    async def trio_io_manager() -> str:
        from trio._core._run import GLOBAL_RUN_CONTEXT

        a, b = trio.socket.socketpair()
        with a, b:
            await b.send(b"x")
            await trio.lowlevel.wait_readable(a)  # Trio's own I/O still works
        return type(GLOBAL_RUN_CONTEXT.runner.io_manager).__name__

    manager = trio.run(trio_io_manager)
    if manager != "EpollIOManager":
        raise RuntimeError(f"Trio's I/O manager is {manager}, not its epoll one")
    return (
        "no-epoll imitation: asyncio's DefaultSelector is PollSelector, "
        f"auto picks the portable driver, Trio runs on its {manager}"
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``TRIOLOOP_TEST_NO_EPOLL=1``, stop the session at once unless the
    imitation took, and say at the top of the output that it did."""
    if os.environ.get("TRIOLOOP_TEST_NO_EPOLL") != "1":
        return
    try:
        line = _no_epoll_state()
    except RuntimeError as exc:
        pytest.exit(f"TRIOLOOP_TEST_NO_EPOLL=1, but {exc}", returncode=4)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


# -- TLS ----------------------------------------------------------------------


class TLSContexts:
    """A server and a client ``SSLContext`` that trust each other (via ``ca``)."""

    def __init__(self, ca: Any, server: Any, client: Any) -> None:
        self.ca = ca
        self.server = server
        self.client = client


@pytest.fixture(scope="session")
def tls_ca() -> Any:
    """A certificate authority made for this test session (``trustme``)."""
    trustme = pytest.importorskip("trustme", reason="TLS tests need trustme")
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_server_cert(tls_ca: Any) -> Any:
    """A certificate from ``tls_ca`` for localhost, 127.0.0.1 and ::1."""
    return tls_ca.issue_cert("localhost", "127.0.0.1", "::1")


@pytest.fixture
def tls(tls_ca: Any, tls_server_cert: Any) -> TLSContexts:
    """Fresh server and client contexts for a server named localhost."""
    import ssl

    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_server_cert.configure_cert(server)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    tls_ca.configure_trust(client)
    return TLSContexts(tls_ca, server, client)


# -- speed of the leak check ----------------------------------------------------


@pytest.fixture(autouse=True)
def _leak_check_skips_older_objects(no_leaks: None) -> Any:
    """Freeze the objects alive when a test starts (``gc.freeze``), after
    ``no_leaks`` took its snapshot: its ``gc.collect()`` then walks only what
    the test made, instead of every module imported so far (aiohttp,
    cryptography ...), which made teardown three quarters of the suite's time.
    """
    gc.freeze()
    yield


def pytest_sessionfinish(session: pytest.Session) -> None:
    gc.unfreeze()
