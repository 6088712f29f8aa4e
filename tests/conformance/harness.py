"""pytest plugin: run CPython's ``test.test_asyncio`` on trioloop's loop.

Loaded by ``run.py`` (``pytest.main(..., plugins=[harness])``).

Which loop
----------
``test_asyncio`` makes real event loops in a handful of ways, all of which
end in one of two names, so only those two are swapped (no other part of
asyncio is touched):

* ``asyncio.SelectorEventLoop`` (also ``asyncio.EventLoop`` from 3.13, and
  the same names in ``asyncio.unix_events``): what the tests call directly,
  e.g. ``test_events.SelectorEventLoopTests.create_event_loop``;
* the ``_loop_factory`` class attribute of asyncio's default policy class:
  what ``asyncio.new_event_loop()``, ``asyncio.run()``, ``asyncio.Runner``,
  ``IsolatedAsyncioTestCase`` and ``DefaultEventLoopPolicy().new_event_loop()``
  end up calling.  Patching the *class* survives the
  ``asyncio.set_event_loop_policy(None)`` that many modules do in
  ``tearDownModule`` (the next policy is a fresh instance of that class).

``test_utils.TestCase.new_test_loop`` (a ``TestLoop`` driven by a generator
instead of a selector) and the tests that build ``BaseEventLoop`` or
``BaseSelectorEventLoop`` with mocks are left alone: they are off-target.

On-target or not
----------------
The loop class installed is a harness-only subclass whose ``_run_once``
bumps a module counter.  A test is *on-target* when the counter moved while
it ran (setup, call and teardown), i.e. when our loop really ran an iteration
for it.  Tests that never ran our loop (mock loops, the C/Python ``Future``
internals, pure helpers) are counted apart as *off-target*.  Tests listed as
hanging in ``expected_failures.py`` are skipped before they start and count
as on-target skips (they are listed because they run our loop and hang).

The same plugin runs stock asyncio (``--conformance-loop=asyncio``) with a
counting subclass of asyncio's own selector loop: the baseline, and a check
that the counting finds the same tests on-target.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from asyncio import unix_events
from typing import Any

import expected_failures
import pytest

# -- the loop classes ---------------------------------------------------------

#: ``_run_once`` calls made by harness loops so far (all loops, all tests).
_iterations = 0
#: Harness loops created so far.
_loops_created = 0

_StockSelectorEventLoop = asyncio.SelectorEventLoop


def _make_trioloop_class() -> type:
    import trioloop

    base_run_once = trioloop.TrioEventLoop._run_once

    class ConformanceTrioEventLoop(trioloop.TrioEventLoop):
        """``TrioEventLoop`` that takes (and drops) a selector, and counts."""

        def __init__(self, selector: Any = None) -> None:
            # Tests pass the selector they want (epoll, poll, select); our
            # loop always parks in Trio on its own epoll selector.
            if selector is not None:
                selector.close()
            super().__init__()
            global _loops_created
            _loops_created += 1

        def _run_once(self) -> None:
            global _iterations
            _iterations += 1
            base_run_once(self)

    return ConformanceTrioEventLoop


def _make_asyncio_class() -> type:
    base_run_once = _StockSelectorEventLoop._run_once

    class ConformanceAsyncioEventLoop(_StockSelectorEventLoop):  # type: ignore[misc,valid-type]
        """asyncio's own selector loop, counting iterations like ours."""

        def __init__(self, selector: Any = None) -> None:
            super().__init__(selector)
            global _loops_created
            _loops_created += 1

        def _run_once(self) -> None:
            global _iterations
            _iterations += 1
            base_run_once(self)

    return ConformanceAsyncioEventLoop


#: The loop class installed for this run (set by ``_install``).
_loop_class: type | None = None


def _install(loop_class: type) -> None:
    """Make every real loop ``test_asyncio`` creates a ``loop_class``."""
    global _loop_class
    _loop_class = loop_class
    for module in (asyncio, unix_events):
        module.SelectorEventLoop = loop_class  # type: ignore[attr-defined]
        if hasattr(module, "EventLoop"):  # 3.13+
            module.EventLoop = loop_class  # type: ignore[attr-defined]
    unix_events._UnixDefaultEventLoopPolicy._loop_factory = loop_class  # type: ignore[attr-defined]


# -- options and set-up -------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "trioloop conformance run")
    group.addoption(
        "--conformance-loop",
        choices=["trioloop", "asyncio"],
        default=os.environ.get("TRIOLOOP_CONFORMANCE_LOOP", "trioloop"),
        help="loop to run test_asyncio on: trioloop (default) or stock asyncio "
        "(the baseline); env TRIOLOOP_CONFORMANCE_LOOP",
    )
    group.addoption(
        "--conformance-json",
        default=os.environ.get("TRIOLOOP_CONFORMANCE_JSON"),
        metavar="PATH",
        help="write counts and per-test outcomes as JSON to PATH; "
        "env TRIOLOOP_CONFORMANCE_JSON",
    )


def pytest_configure(config: pytest.Config) -> None:
    loop = config.getoption("conformance_loop")
    config.stash[_STATE] = _State(loop)
    _install(_make_trioloop_class() if loop == "trioloop" else _make_asyncio_class())


_PREFIX = "test.test_asyncio."


def conformance_id(item: pytest.Item) -> str:
    """``test_events.EPollEventLoopTests.test_foo``: unittest's id without
    the package; the key of ``expected_failures.py`` and of the JSON."""
    module = getattr(item, "module", None)
    name = module.__name__ if module is not None else item.nodeid
    if name.startswith(_PREFIX):
        name = name[len(_PREFIX) :]
    cls = getattr(item, "cls", None)
    parts = [name] + ([cls.__name__] if cls is not None else []) + [item.name]
    return ".".join(parts)


class _State:
    def __init__(self, loop: str) -> None:
        self.loop = loop
        self.started = time.monotonic()
        #: id -> the listed entry applied to that test
        self.listed: dict[str, expected_failures.Entry] = {}
        #: id -> per-test record (see _finish)
        self.results: dict[str, dict[str, Any]] = {}
        # per-test scratch, reset in pytest_runtest_protocol
        self.reports: list[pytest.TestReport] = []
        self.reports_done: list[pytest.TestReport] = []
        #: scratch directory the tests run in
        self.cwd: str | None = None


_STATE = pytest.StashKey[_State]()


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    state = config.stash[_STATE]
    table = expected_failures.for_run(state.loop, sys.version_info[:2])
    exact = {k: v for k, v in table.items() if not _is_pattern(k)}
    patterns = [(k, v) for k, v in table.items() if _is_pattern(k)]
    for item in items:
        tid = conformance_id(item)
        entry = exact.get(tid)
        if entry is None:
            for pattern, candidate in patterns:
                if fnmatch.fnmatchcase(tid, pattern):
                    entry = candidate
                    break
        if entry is None:
            continue
        state.listed[tid] = entry
        if entry.run:
            item.add_marker(pytest.mark.xfail(reason=entry.label(), strict=False))
        else:
            item.add_marker(pytest.mark.skip(reason=entry.label()))


def _is_pattern(key: str) -> bool:
    return any(c in key for c in "*?[")


# -- per-test accounting -------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    state = item.config.stash[_STATE]
    state.reports = []
    before = _iterations
    created = _loops_created
    try:
        return (yield)
    finally:
        _finish(state, item, _iterations - before, _loops_created - created)
        if _TIMED_OUT in item.stash:
            _forget_abandoned_run()


def _forget_abandoned_run() -> None:
    """After a timeout raised inside ``trio.run``: let the dead run go.

    Trio's abandoned run stays "current" in this thread (every later loop
    would refuse to start) until its frames are garbage; pytest keeps the
    last failure's traceback in ``sys.last_*``, which holds them.
    """
    import gc

    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)
    gc.collect()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Reports of this run's items only (xdist is not used).
    state = _current_state
    if state is not None:
        state.reports.append(report)


_current_state: _State | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _current_state
    state = _current_state = session.config.stash[_STATE]
    # Like regrtest, run in a scratch directory: tests create files named
    # after os_helper.TESTFN in the current directory.
    state.cwd = tempfile.mkdtemp(prefix="trioloop-conformance-")
    os.chdir(state.cwd)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash[_STATE]
    if state.cwd is not None:
        os.chdir(session.config.invocation_params.dir)
        shutil.rmtree(state.cwd, ignore_errors=True)
        state.cwd = None


# -- per-test timeout ----------------------------------------------------------
#
# pytest-timeout's signal method raises from its SIGALRM handler.  When the
# test is parked in our loop, the exception surfaces in Trio's I/O wait,
# outside any task, and tears down ``trio.run`` abruptly; Trio's abandoned
# run then stays current until the garbage collector finds it, which can
# spill into the next tests.  So a timeout first asks the running harness loop
# to stop (public API, thread- and signal-safe): the test's
# ``run_until_complete`` then fails with "Event loop stopped before Future
# completed" and the loop unwinds normally.  If the test is still running
# ``_GRACE`` seconds later (or no loop of ours was running), pytest-timeout's
# own handler fails it.  Either way the test is reported as timed out.

_GRACE = 5.0
#: Set on an item (to its timeout in seconds) once its timer went off.
_TIMED_OUT = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if settings.method != "signal" or settings.timeout <= 0:
        return None  # pytest-timeout's own implementation
    import pytest_timeout

    def handler(signum: int, frame: Any) -> None:
        __tracebackhide__ = True
        loop = asyncio.events._get_running_loop()
        if _TIMED_OUT not in item.stash:
            item.stash[_TIMED_OUT] = settings.timeout
            if _loop_class is not None and isinstance(loop, _loop_class):
                loop.call_soon_threadsafe(loop.stop)
                signal.setitimer(signal.ITIMER_REAL, _GRACE)
                return
        pytest_timeout.timeout_sigalrm(item, settings)

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    report = yield
    if _TIMED_OUT in item.stash and report.when == "call":
        message = f"Timeout (>{item.stash[_TIMED_OUT]}s)"
        if report.passed:
            report.outcome = "failed"
            report.longrepr = message
        report.sections.append(("conformance", message))
        report.user_properties.append(("timed_out", True))
    return report


def _outcome(reports: list[pytest.TestReport]) -> tuple[str, str]:
    """(outcome, detail) of one test from its phase and subtest reports."""
    outcome, detail = "passed", ""
    for report in reports:
        xfail = getattr(report, "wasxfail", None)
        if report.failed:
            return "failed", f"{report.when}: {_first_line(report)}"
        if report.skipped:
            if xfail is not None:
                outcome, detail = "xfailed", _first_line(report)
            elif outcome == "passed":
                outcome = "skipped"
                longrepr = report.longrepr
                detail = longrepr[2] if isinstance(longrepr, tuple) else ""
        elif xfail is not None and report.when == "call":
            outcome = "xpassed"
    return outcome, detail


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0] if crash.message else ""
    text = str(report.longrepr or "")
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _finish(state: _State, item: pytest.Item, iterations: int, created: int) -> None:
    tid = conformance_id(item)
    outcome, detail = _outcome(state.reports)
    state.reports_done, state.reports = state.reports, []
    entry = state.listed.get(tid)
    # Listed hangs are skipped before they start: on-target by listing.
    on_target = iterations > 0 or (entry is not None and not entry.run)
    record: dict[str, Any] = {
        "outcome": outcome,
        "on_target": on_target,
        "iterations": iterations,
        "loops_created": created,
    }
    if entry is not None:
        record["listed"] = entry.label()
    if any(("timed_out", True) in r.user_properties for r in state.reports_done):
        record["timed_out"] = True
        detail = f"timed out; {detail}"
    if detail and outcome != "passed":
        record["detail"] = detail[:300]
    state.results[tid] = record


# -- summary -------------------------------------------------------------------


def _counts(state: _State) -> dict[str, Any]:
    on = [r for r in state.results.values() if r["on_target"]]
    off = [r for r in state.results.values() if not r["on_target"]]

    def n(records: list[dict[str, Any]], *outcomes: str) -> int:
        return sum(1 for r in records if r["outcome"] in outcomes)

    return {
        "on_target": {
            "total": len(on),
            "passed": n(on, "passed", "xpassed"),
            "failed": n(on, "failed", "xfailed"),
            "skipped": n(on, "skipped"),
            "failed_listed": n(on, "xfailed"),
            "failed_unexpected": n(on, "failed"),
            "skipped_listed": sum(
                1 for r in on if r["outcome"] == "skipped" and "listed" in r
            ),
            "xpassed": n(on, "xpassed"),
        },
        "off_target": {
            "total": len(off),
            "passed": n(off, "passed", "xpassed"),
            "failed": n(off, "failed", "xfailed"),
            "skipped": n(off, "skipped"),
            "failed_listed": n(off, "xfailed"),
            "failed_unexpected": n(off, "failed"),
            "created_a_loop_without_running_it": sum(
                1 for r in off if r["loops_created"]
            ),
        },
    }


def _python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def pytest_unconfigure(config: pytest.Config) -> None:
    # Printed here, after pytest's own summary, so that the conformance line
    # is the last one of the run.
    state = config.stash.get(_STATE, None)
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    if state is None or not state.results or terminalreporter is None:
        return
    counts = _counts(state)
    on, off = counts["on_target"], counts["off_target"]
    write = terminalreporter.write_line
    write("")
    xpassed = sorted(
        t
        for t, r in state.results.items()
        if r["outcome"] == "xpassed" and not state.listed[t].flaky
    )
    if xpassed:
        write(f"listed in expected_failures.py but passed ({len(xpassed)}):")
        for tid in xpassed:
            write(f"  {tid}")
    unexpected = sorted(t for t, r in state.results.items() if r["outcome"] == "failed")
    if unexpected:
        write(f"unexpected failures ({len(unexpected)}):")
        for tid in unexpected:
            target = "on-target" if state.results[tid]["on_target"] else "off-target"
            write(f"  {tid} [{target}]: {state.results[tid].get('detail', '')[:150]}")
    loop = "" if state.loop == "trioloop" else f", loop={state.loop}"
    if (
        state.loop == "trioloop"
        and (os.environ.get("TRIOLOOP_DRIVER") or "auto") != "auto"
    ):
        loop = f", driver={os.environ['TRIOLOOP_DRIVER']}"
    write(
        f"  on-target failed: {on['failed_listed']} listed + {on['failed_unexpected']} "
        f"unexpected; skipped: {on['skipped_listed']} listed (hang) + "
        f"{on['skipped'] - on['skipped_listed']} by the tests; "
        f"off-target: {off['passed']} passed / {off['failed']} failed "
        f"({off['failed_listed']} listed) / {off['skipped']} skipped"
    )
    path = config.getoption("conformance_json")
    if path:
        path = os.path.join(config.invocation_params.dir, path)
        _write_json(state, counts, path)
        write(f"  results written to {os.path.relpath(path)}")
    write(
        f"conformance (Python {_python()}{loop}): on-target {on['passed']} passed / "
        f"{on['failed']} failed / {on['skipped']} skipped; off-target {off['total']}",
        bold=True,
    )


def _write_json(state: _State, counts: dict[str, Any], path: str) -> None:
    import trioloop

    data = {
        "python": _python(),
        "python_full": sys.version.split()[0],
        "loop": state.loop,
        "driver": os.environ.get("TRIOLOOP_DRIVER") or "auto",
        "trioloop": trioloop.__version__,
        "duration_s": round(time.monotonic() - state.started, 1),
        "counts": counts,
        "tests": dict(sorted(state.results.items())),
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)
