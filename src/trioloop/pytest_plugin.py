"""trioloop's pytest plugin: loaded through the ``pytest11`` entry point, and
changing nothing unless asked.

``trioloop_loop`` fixture
    For Trio tests (pytest-trio): an asyncio loop hosted by the test's own
    ``trio.run``, open for the duration of the test::

        @pytest.mark.trio
        async def test_fetch(trioloop_loop, autojump_clock):
            await trioloop.aio_as_trio(some_asyncio_function)()

    The loop's clock is the Trio run's, so with ``autojump_clock`` asyncio
    sleeps and timeouts are virtual too.

``--trioloop`` option, ``trioloop = true`` ini setting
    Run an existing asyncio test suite on trioloop: every test that
    pytest-asyncio (>= 1.4) runs, and every test anyio's plugin runs on its
    ``asyncio`` backend, gets a :class:`~trioloop.TrioEventLoop` (sync mode,
    made by :func:`trioloop.new_event_loop`) where it would have had the
    default loop.  A suite that chooses its loops itself keeps its choice: a
    ``pytest_asyncio_loop_factories`` hook of its own, or anyio backend
    options with ``loop_factory`` or ``use_uvloop``.

How the switch works: pytest-asyncio's supported way to choose the loop is
its ``pytest_asyncio_loop_factories`` hook (overriding the
``event_loop_policy`` fixture is deprecated there, and policies are in asyncio
from 3.14); the hook is implemented by a plugin object registered only when
the switch is on, because pytest-asyncio treats any implementation as a
request to parametrize.  It is a hook wrapper that answers only when every
other implementation answered None, so the suite's own answer always wins.
anyio takes its loop factory from the value of the ``anyio_backend``
fixture, so the switch adds one to that value.

Without the switch, anyio's plugin does the same when a suite asks for it::

    @pytest.fixture
    def anyio_backend():
        return ("asyncio", {"loop_factory": trioloop.new_event_loop})
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

import pytest

from ._hosted import open_loop
from ._loop import TrioEventLoop, new_event_loop

__all__ = ["pytest_addoption", "pytest_configure", "trioloop_loop"]

SWITCH_HELP = (
    "run pytest-asyncio tests and anyio's asyncio-backend tests on trioloop's "
    "event loop instead of asyncio's default one"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trioloop")
    group.addoption("--trioloop", action="store_true", default=None, help=SWITCH_HELP)
    parser.addini("trioloop", type="bool", default=False, help=SWITCH_HELP)


def pytest_configure(config: pytest.Config) -> None:
    switch = config.getoption("trioloop")
    if not (config.getini("trioloop") if switch is None else switch):
        return
    if config.pluginmanager.has_plugin("asyncio") and not hasattr(
        config.hook, "pytest_asyncio_loop_factories"
    ):
        raise pytest.UsageError(
            "--trioloop needs pytest-asyncio >= 1.4 (for its "
            "pytest_asyncio_loop_factories hook); upgrade it"
        )
    config.pluginmanager.register(_Switch(), "trioloop-switch")


class _Switch:
    """The hooks of the ``--trioloop`` switch."""

    @pytest.hookimpl(wrapper=True, optionalhook=True)
    def pytest_asyncio_loop_factories(
        self, config: pytest.Config, item: pytest.Item
    ) -> Generator[None, Any, Any]:
        # A wrapper sees the hook's answer: the first non-None one of the
        # suite's own implementations, whatever their order and marks.  A
        # trylast implementation would not do: pluggy calls trylast ones in
        # the order registered, so a suite's own trylast one registered after
        # the switch (a test module's pytest_plugins, a sub-directory's
        # conftest) would never be asked.
        factories = yield
        return {"trioloop": new_event_loop} if factories is None else factories

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        value = yield
        if fixturedef.argname != "anyio_backend":
            return value
        backend = _with_trioloop(value)
        if backend is not value:
            # What later requests for the fixture get, in its scope.
            assert fixturedef.cached_result is not None
            fixturedef.cached_result = (backend, *fixturedef.cached_result[1:])
        return backend

    def pytest_report_header(self, config: pytest.Config) -> str:
        return (
            "trioloop: pytest-asyncio and anyio (asyncio backend) run on TrioEventLoop"
        )


def _with_trioloop(backend: object) -> object:
    """anyio's ``anyio_backend`` value, with trioloop as the asyncio backend's
    loop factory unless the value chooses a loop already."""
    if backend == "asyncio":
        return ("asyncio", {"loop_factory": new_event_loop})
    if (
        isinstance(backend, tuple)
        and len(backend) == 2
        and backend[0] == "asyncio"
        and isinstance(backend[1], dict)
        and "loop_factory" not in backend[1]
        and not backend[1].get("use_uvloop")
    ):
        return ("asyncio", {**backend[1], "loop_factory": new_event_loop})
    return backend


@pytest.fixture
async def trioloop_loop() -> AsyncIterator[TrioEventLoop]:
    """An asyncio event loop hosted by the test's Trio run, for the test.

    Use it in Trio tests (``@pytest.mark.trio``); asyncio code runs on it
    through :func:`trioloop.aio_as_trio`.  At the end of the test the loop's
    remaining asyncio tasks are cancelled and awaited, and it is closed.
    """
    async with open_loop() as loop:
        yield loop
