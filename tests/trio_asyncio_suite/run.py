"""Run trio-asyncio 0.16's own test suite against ``trioloop.compat``.

Usage::

    python tests/trio_asyncio_suite/run.py SDIST_DIR [PYTEST OPTIONS ...]

``SDIST_DIR`` is trio-asyncio 0.16's unpacked source distribution
(``scripts/trio-asyncio-suite.sh`` downloads it into ``.cache/``; its files
are never part of this repository).  ``import trio_asyncio`` gives
``trioloop.compat`` (and ``trio_asyncio._loop``, ``._deprecate``,
``._adapter`` its modules of those names): the test files run unedited.  Its ``tests/python``
directory (CPython's asyncio suite on trio-asyncio's loop) is left out: our
own conformance run covers that.

The tests that do not pass are listed in ``expected_failures.py`` with the
reason for each, and marked as strict expected failures (non-strict for the
one that passes or fails by Trio's scheduling order): the exit status is
pytest's, non-zero when any other test fails or a strictly listed one
passes.  The last line printed is the summary, e.g.::

    trio-asyncio 0.16 suite (Python 3.12): 116 of 124 passed; 8 expected
    failures, 0 unexpected, 0 skipped            (one line)
"""

from __future__ import annotations

import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def alias_trio_asyncio() -> None:
    """Make ``trio_asyncio`` and its submodules the compat ones."""
    import trioloop.compat
    from trioloop.compat import _adapter, _deprecate, _loop

    sys.modules["trio_asyncio"] = trioloop.compat
    for module in (_adapter, _deprecate, _loop):
        sys.modules["trio_asyncio." + module.__name__.rsplit(".", 1)[1]] = module


class ExpectedFailures:
    """pytest plugin: mark the listed tests xfail (strict) with their reason,
    and count the outcomes."""

    def __init__(self, reasons: dict[str, str], races: dict[str, str]) -> None:
        self.reasons = reasons
        self.races = races
        self.counts = {"passed": 0, "xfailed": 0, "failed": 0, "skipped": 0}

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        import pytest

        seen = set()
        for item in items:
            for reasons, strict in ((self.reasons, True), (self.races, False)):
                reason = reasons.get(item.nodeid)
                if reason is not None:
                    seen.add(item.nodeid)
                    item.add_marker(pytest.mark.xfail(reason=reason, strict=strict))
        for nodeid in sorted((set(self.reasons) | set(self.races)) - seen):
            print(f"expected_failures.py lists a test that was not collected: {nodeid}")

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call" and report.outcome == "passed":
            return  # a setup or teardown that went well
        if hasattr(report, "wasxfail"):
            # xfailed (reported as skipped), or a race that passed
            self.counts["xfailed" if report.skipped else "passed"] += 1
        else:
            self.counts[report.outcome] += 1


def main(argv: list[str]) -> int:
    if not argv or not os.path.isdir(os.path.join(argv[0], "tests")):
        print(__doc__, file=sys.stderr)
        return 2
    sdist, options = os.path.abspath(argv[0]), argv[1:]
    sys.path.insert(0, HERE)
    from expected_failures import EXPECTED_FAILURES, RACES

    alias_trio_asyncio()
    import pytest

    os.chdir(sdist)
    plugin = ExpectedFailures(EXPECTED_FAILURES, RACES)
    status = pytest.main(
        [
            "tests",
            "--ignore=tests/python",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:trioloop",
            # trioloop (a pytest plugin too) is imported already, by the alias
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            "-q",
            *options,
        ],
        plugins=[plugin],
    )
    counts = plugin.counts
    total = sum(counts.values())
    version = "{}.{}".format(*sys.version_info[:2])
    print(
        f"trio-asyncio 0.16 suite (Python {version}): {counts['passed']} of {total} "
        f"passed; {counts['xfailed']} expected failures, {counts['failed']} "
        f"unexpected, {counts['skipped']} skipped"
    )
    return int(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
