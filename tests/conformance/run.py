"""Run CPython's own asyncio test suite against trioloop.

Usage (from anywhere; the interpreter's own ``test.test_asyncio`` is used)::

    python tests/conformance/run.py [--conformance-loop=trioloop|asyncio]
        [--conformance-json=PATH] [TEST ...] [PYTEST OPTIONS ...]

``TEST`` selects part of the suite, in unittest or pytest spelling:
``test_events``, ``test_events.EPollEventLoopTests``,
``test_events.EPollEventLoopTests.test_run_until_complete`` or
``test_events::EPollEventLoopTests::test_run_until_complete``.  Without one,
the whole ``test.test_asyncio`` package runs.  Other arguments go to pytest
(``-x``, ``-k EXPR``, ``--timeout=SECONDS``, ``-v``, ...).

The last lines printed are the summary, e.g.::

    conformance (Python 3.12): on-target 1122 passed / 19 failed / 0 skipped;
    off-target 1321            (one line)

Exit status is pytest's: non-zero when a test failed that is not listed in
``expected_failures.py`` (a listed failure is an xfail) or timed out.
See ``harness.py`` for how loops are swapped and tests are counted.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

_SELECTOR = re.compile(r"^test_\w+([.:]|$)")


def _to_pyarg(selector: str) -> str:
    if "::" not in selector:
        module, _, rest = selector.partition(".")
        selector = module + ("::" + rest.replace(".", "::") if rest else "")
    module, sep, rest = selector.partition("::")
    if module.endswith(".py"):
        module = module[:-3]
    return f"test.test_asyncio.{module}{sep}{rest}"


def main(argv: list[str]) -> int:
    sys.path.insert(0, HERE)
    import harness
    import pytest

    spec = importlib.util.find_spec("test.test_asyncio")
    if spec is None or not spec.submodule_search_locations:
        print("this Python has no test.test_asyncio (its test suite)", file=sys.stderr)
        return 2
    package_dir = list(spec.submodule_search_locations)[0]

    selectors = [arg for arg in argv if _SELECTOR.match(arg)]
    options = [arg for arg in argv if not _SELECTOR.match(arg)]
    targets = [_to_pyarg(s) for s in selectors] or ["test.test_asyncio"]
    args = [
        "-c", os.path.join(HERE, "pytest.ini"),
        "--rootdir", package_dir,
        "-o", f"cache_dir={os.path.join(REPO, '.cache', 'pytest-conformance')}",
        # Not ours to run here: pytest-trio's hooks, trioloop's own pytest
        # plugin (for users' suites), and pytest's warning capture
        # (test_asyncio manages warnings itself, as under regrtest).
        "-p", "no:trio",
        "-p", "no:trioloop",
        "-p", "no:warnings",
        "-q",
        *options,
        "--pyargs", *targets,
    ]  # fmt: skip
    return int(pytest.main(args, plugins=[harness]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
