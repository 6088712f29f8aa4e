"""The anyio lane's verdict (tests/anyio_suite/anyio_compare.py) on outcome
reports made up here: it must fail on a new difference and on a stale entry
of the known differences, and only report a one-off or a stock failure."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "anyio_suite"))

import anyio_compare  # noqa: E402

LISTED = "tests/test_x.py::test_known[asyncio]"
NEW = "tests/test_x.py::test_new[asyncio]"


@pytest.fixture(autouse=True)
def known_differences(monkeypatch: pytest.MonkeyPatch) -> None:
    """One listed difference, whatever the real list holds today."""
    monkeypatch.setattr(anyio_compare, "DIFFERENCES", {LISTED: "a known reason"})


def reports(**trio: str) -> tuple[dict[str, str], dict[str, str]]:
    """Stock passes both tests; trioloop fails the listed one, plus ``trio``."""
    stock = {LISTED: "passed", NEW: "passed"}
    return stock, {**stock, LISTED: "failed", **trio}


def test_agreement_passes() -> None:
    stock, trio = reports()
    assert anyio_compare._unlisted(stock, trio) == []
    assert anyio_compare._problems(stock, trio, {}) == ([], [])


def test_listed_difference_that_passes_fails_the_lane() -> None:
    stock, trio = reports(**{LISTED: "passed"})
    bad, _ = anyio_compare._problems(stock, trio, {})
    assert bad == [
        f"    trioloop listed but passes (delete it in {anyio_compare.LIST_FILE}): "
        f"{LISTED}"
    ]


def test_listed_test_not_run_fails_the_lane() -> None:
    stock, trio = reports()
    del stock[LISTED], trio[LISTED]
    bad, _ = anyio_compare._problems(stock, trio, {})
    assert bad == [f"    trioloop listed but not run: {LISTED}"]


def test_new_difference_fails_the_lane_unless_a_retry_passes() -> None:
    stock, trio = reports(**{NEW: "timeout"})
    assert anyio_compare._unlisted(stock, trio) == [NEW]
    bad, notes = anyio_compare._problems(stock, trio, {NEW: "failed"})
    assert (bad, notes) == ([f"    trioloop new difference (timeout): {NEW}"], [])
    bad, notes = anyio_compare._problems(stock, trio, {NEW: "passed"})
    assert (bad, notes) == (
        [],
        [f"    trioloop FLAKY (failed, passed on retry): {NEW}"],
    )


def test_stock_failure_is_reported_not_compared() -> None:
    stock, trio = reports()
    stock[NEW] = trio[NEW] = "error"
    bad, notes = anyio_compare._problems(stock, trio, {})
    assert (bad, notes) == ([], [f"    asyncio failed, not compared (error): {NEW}"])
