"""pytest plugin for running anyio's own test suite as a lane of ``make test``
(scripts/anyio-suite.sh loads it with ``-p anyio_lane``).

It narrows anyio's suite to what trioloop can be compared on, and records
each test's outcome for ``compare.py``:

* only tests run by anyio's ``asyncio`` backend are kept (the ``asyncio`` and
  ``asyncio+eager`` parameters of anyio's ``anyio_backend`` fixture); the Trio
  backend and uvloop are not ours to test, and tests taking no backend run the
  same code on both passes;
* tests anyio marks ``network`` (they need the internet) and those in
  ``anyio_differences.EXCLUDED`` are left out, each for its stated reason;
* with ``--trioloop`` (trioloop's own switch, which gives the plain
  ``asyncio`` parameter ``trioloop.new_event_loop``), the ``asyncio+eager``
  parameter's loop becomes a trioloop loop with asyncio's eager task factory,
  so both of anyio's asyncio variants run on trioloop;
* the tests listed as hanging on trioloop get a short timeout on that pass,
  so a listed hang costs seconds and a fixed one shows up as a pass;
* ``--lane-report=PATH`` writes ``{node id: outcome}`` as JSON, the outcome
  being ``passed``, ``failed``, ``error``, ``skipped``, ``xfailed`` or
  ``timeout`` (spell it with ``=``: pytest looks for its rootdir before
  plugins' options are known, and would take a separate PATH for a test path).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Generator
from fnmatch import fnmatchcase
from typing import Any

import pytest
from anyio_differences import EXCLUDED, HANGS

import trioloop

__all__ = [
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_fixture_setup",
    "pytest_runtest_logreport",
    "pytest_sessionfinish",
]

#: Timeout of a test listed in ``HANGS`` on the trioloop pass (seconds).
HANG_TIMEOUT = 5

_outcomes: dict[str, str] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("anyio lane").addoption(
        "--lane-report", metavar="PATH", help="write each test's outcome here (JSON)"
    )


def _on_trioloop(config: pytest.Config) -> bool:
    return bool(config.getoption("trioloop"))


def _backend_of(item: pytest.Item) -> object:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("anyio_backend")


def _is_asyncio_backend(backend: object) -> bool:
    """anyio's plain and eager asyncio parameters; not Trio, not uvloop."""
    if not (isinstance(backend, tuple) and backend[0] == "asyncio"):
        return False
    factory = backend[1].get("loop_factory")
    return factory is None or _is_eager_factory(factory)


def _is_eager_factory(factory: Callable[[], object]) -> bool:
    return getattr(factory, "__name__", "") == "eager_task_loop_factory"


def _excluded(nodeid: str) -> bool:
    return any(fnmatchcase(nodeid, pattern) for pattern in EXCLUDED)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        wanted = _is_asyncio_backend(_backend_of(item))
        excluded = item.get_closest_marker("network") or _excluded(item.nodeid)
        (keep if wanted and not excluded else drop).append(item)
    if _on_trioloop(config):
        for item in keep:
            if item.nodeid in HANGS:
                item.add_marker(pytest.mark.timeout(HANG_TIMEOUT))
    items[:] = keep
    config.hook.pytest_deselected(items=drop)


def _trioloop_eager_loop() -> asyncio.AbstractEventLoop:
    loop = trioloop.new_event_loop()
    loop.set_task_factory(asyncio.eager_task_factory)  # Python 3.12+, as the lane
    return loop


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    value = yield
    if (
        fixturedef.argname != "anyio_backend"
        or not _on_trioloop(request.config)
        or not (isinstance(value, tuple) and value[0] == "asyncio")
        or not _is_eager_factory(value[1].get("loop_factory"))
    ):
        return value
    backend = ("asyncio", {**value[1], "loop_factory": _trioloop_eager_loop})
    assert fixturedef.cached_result is not None
    fixturedef.cached_result = (backend, *fixturedef.cached_result[1:])
    return backend


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        _outcomes[report.nodeid] = _outcome(report)
    else:
        _outcomes.setdefault(report.nodeid, "passed")


def _outcome(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "failed"
    if report.failed and "Timeout" in str(report.longrepr):
        return "timeout"
    if report.failed and report.when != "call":
        return "error"
    return report.outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("lane_report")
    if path:
        with open(path, "w") as out:
            json.dump(_outcomes, out, indent=1, sort_keys=True)
