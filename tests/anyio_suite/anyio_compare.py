"""Compare the two passes of anyio's suite (scripts/anyio-suite.sh): stock
asyncio against trioloop, with anyio_differences.py as the list of known
differences.

Usage::

    python anyio_compare.py STOCK.json TRIOLOOP.json [--retry=RETRY.json]
    python anyio_compare.py STOCK.json TRIOLOOP.json --unlisted=PATH

The inputs are ``anyio_lane``'s ``--lane-report`` files.  A test *differs*
when it passed on stock asyncio and did not on trioloop.  The first form
prints the counts and the verdict, and exits 1 when a test differs that is not
listed, or a listed test passed on trioloop or was not run.  ``--retry``
names a report of the unlisted differences run again on trioloop: one that
passed there is reported FLAKY and does not fail the lane.  The second form
only writes the unlisted differences' node ids to PATH, one a line (for that
retry).
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from anyio_differences import DIFFERENCES, HANGS

__all__ = ["main"]

LIST_FILE = "tests/anyio_suite/anyio_differences.py"


def _load(path: str) -> dict[str, str]:
    try:
        with open(path) as f:
            outcomes: dict[str, str] = json.load(f)
    except FileNotFoundError:
        sys.exit(f"no report at {path}: that pass did not finish (see its output)")
    return outcomes


def _counts(outcomes: dict[str, str]) -> str:
    counter = Counter(
        "failed" if outcome in ("error", "timeout") else outcome
        for outcome in outcomes.values()
    )
    kinds = ("passed", "failed", "skipped", "xfailed")
    return ", ".join(f"{counter[kind]} {kind}" for kind in kinds)


def _unlisted(stock: dict[str, str], trio: dict[str, str]) -> list[str]:
    return [
        nodeid
        for nodeid, outcome in stock.items()
        if outcome == "passed"
        and trio.get(nodeid) != "passed"
        and nodeid not in DIFFERENCES
    ]


def _problems(
    stock: dict[str, str], trio: dict[str, str], retry: dict[str, str]
) -> tuple[list[str], list[str]]:
    """(lines that fail the lane, lines that are only reported)."""
    bad, notes = [], []
    for nodeid in _unlisted(stock, trio):
        if retry.get(nodeid) == "passed":
            notes.append(f"    trioloop FLAKY (failed, passed on retry): {nodeid}")
        else:
            bad.append(f"    trioloop new difference ({trio.get(nodeid)}): {nodeid}")
    for nodeid in DIFFERENCES:
        if nodeid not in trio:
            bad.append(f"    trioloop listed but not run: {nodeid}")
        elif trio[nodeid] == "passed":
            bad.append(
                f"    trioloop listed but passes (delete it in {LIST_FILE}): {nodeid}"
            )
        elif stock.get(nodeid) != "passed":
            bad.append(
                f"    asyncio listed but fails on stock too ({stock.get(nodeid)}): "
                f"{nodeid}"
            )
    for nodeid, outcome in stock.items():
        if outcome not in ("passed", "skipped", "xfailed"):
            notes.append(f"    asyncio failed, not compared ({outcome}): {nodeid}")
    return bad, notes


def main(argv: list[str]) -> int:
    paths = [arg for arg in argv if not arg.startswith("--")]
    options = dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--"))
    if len(paths) != 2 or not set(options) <= {"retry", "unlisted"}:
        print(__doc__, file=sys.stderr)
        return 2
    unknown_hangs = HANGS - set(DIFFERENCES)
    if unknown_hangs:
        print(f"HANGS not in DIFFERENCES: {sorted(unknown_hangs)}", file=sys.stderr)
        return 2
    stock, trio = _load(paths[0]), _load(paths[1])
    if "unlisted" in options:
        with open(options["unlisted"], "w") as out:
            out.writelines(nodeid + "\n" for nodeid in _unlisted(stock, trio))
        return 0
    retry = _load(options["retry"]) if "retry" in options else {}
    bad, notes = _problems(stock, trio, retry)
    known = [
        nodeid
        for nodeid in DIFFERENCES
        if trio.get(nodeid, "passed") != "passed" and stock.get(nodeid) == "passed"
    ]
    print(f"  stock asyncio: {_counts(stock)}")
    print(f"  trioloop:      {_counts(trio)}")
    print(f"  known differences still failing on trioloop: {len(known)}")
    for nodeid in known:
        print(f"    {nodeid} ({trio[nodeid]}): {DIFFERENCES[nodeid]}")
    for line in notes + bad:
        print(line)
    print("anyio suite:", "FAILED" if bad else "passed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
