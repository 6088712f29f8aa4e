"""The private Trio names of ``trioloop._trio_internals``: found with the Trio
the tests run against, and done without when they are missing."""

from __future__ import annotations

import asyncio
import logging
import select
import sys

import pytest
import trio
import trio.testing

import trioloop
from trioloop import _driver, _flavour, _trio_internals, aio_as_trio, trio_as_aio

#: Whether asyncio's (and so trioloop's) ``select`` has epoll: on Linux,
#: unless hidden (``TRIOLOOP_TEST_NO_EPOLL``, ``tests/_no_epoll``).
EPOLL_FOR_ASYNCIO = sys.platform.startswith("linux") and hasattr(select, "epoll")


def test_every_private_name_is_found_with_this_trio():
    async def main():
        assert _trio_internals.run_context.task is trio.lowlevel.current_task()
        assert hasattr(trio.lowlevel.current_task(), "_ki_protected")
        parts = _trio_internals.idle_blocker_parts()
        if not EPOLL_FOR_ASYNCIO:  # the blocker needs select's epoll, as Trio's
            assert parts == "Trio's I/O manager is not epoll"
            return
        assert isinstance(parts, tuple), parts
        runner, hooks, trio_epoll = parts
        assert runner is not None
        assert isinstance(hooks, dict)
        assert trio_epoll.fileno() >= 0

    trio.run(main)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="Trio's I/O manager is epoll on Linux"
)
def test_trio_io_manager_is_found_as_epoll_on_linux():
    assert _trio_internals.io_manager_is_epoll()


def test_custom_resolver_is_found_and_answers_asyncio_code():
    asked = []

    class Resolver(trio.abc.HostnameResolver):
        async def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
            asked.append(host)
            return [(2, 1, 6, "", ("127.0.0.1", port))]

        async def getnameinfo(self, sockaddr, flags):
            raise NotImplementedError

    async def main():
        trio.socket.set_custom_hostname_resolver(Resolver())
        assert _trio_internals.custom_resolver() is not None
        async with trioloop.open_loop() as loop:
            infos = await aio_as_trio(loop.getaddrinfo)("example.invalid", 80)
        return infos

    assert trio.run(main)[0][4] == ("127.0.0.1", 80)
    assert asked == [b"example.invalid"]  # Trio encodes the name first


_EPOLL_ONLY = pytest.mark.skipif(
    not EPOLL_FOR_ASYNCIO, reason="the fast path is the epoll driver's"
)


@_EPOLL_ONLY
def test_fast_path_is_visible_on_the_loop(monkeypatch):
    monkeypatch.setenv("TRIOLOOP_DRIVER", "epoll")  # whatever the run forces
    seen = {}

    async def probe():
        await asyncio.sleep(0.01)  # on the driver (an eager first step is not)
        seen["on"] = asyncio.get_running_loop().idle_blocking

    async def main():
        async with trioloop.open_loop() as loop:
            await aio_as_trio(probe)()
        seen["after"] = loop.idle_blocking

    trio.run(main)
    assert seen == {"on": True, "after": False}
    trioloop.run(probe())
    assert seen["on"] is True


@_EPOLL_ONLY
def test_fast_path_off_is_logged_with_its_reason_in_debug_mode(monkeypatch, caplog):
    monkeypatch.setenv("TRIOLOOP_DRIVER", "epoll")
    seen = []

    async def main():
        async with trioloop.open_loop(debug=True) as loop:
            await trio.sleep(0)
            seen.append(loop.idle_blocking)

    with caplog.at_level(logging.DEBUG, logger="trioloop"):
        trio.run(main, clock=trio.testing.MockClock())
    assert seen == [False]
    assert any("custom clock" in r.getMessage() for r in caplog.records)


@pytest.fixture
def trio_without_run_context(monkeypatch):
    """As with a Trio release that moved its run context: every module that
    reads it sees None."""
    monkeypatch.setattr(_trio_internals, "run_context", None)
    monkeypatch.setattr(_flavour, "trio_run_context", None)
    monkeypatch.setattr(_driver, "trio_run_context", None)


def test_loop_and_bridge_work_without_trio_run_context(trio_without_run_context):
    async def trio_side(x):
        await trio.sleep(0)
        return x + 1

    async def aio_side(x):
        await asyncio.sleep(0.01)
        value = await trio_as_aio(trio_side)(x)
        return value, asyncio.get_running_loop().idle_blocking

    async def main():
        async with trioloop.open_loop():
            return await aio_as_trio(aio_side)(1)

    assert trio.run(main) == (2, False)
    assert trioloop.run(aio_side(10)) == (11, False)
