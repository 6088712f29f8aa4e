"""What differs when anyio's test suite runs on trioloop instead of stock
asyncio (anyio's asyncio backend, both passes on the same Python).

Keys are pytest node ids relative to anyio's source tree (in ``EXCLUDED``,
``fnmatch`` patterns of them, ``*`` and ``?`` only); values are one-line
reasons, written for a user.

``DIFFERENCES``: tests that pass on stock asyncio and fail on trioloop.  The
lane fails when a test differs that is not listed here, or when a listed one
passes on trioloop (then it is fixed: delete its line).

``HANGS``: keys of ``DIFFERENCES`` that would hang on trioloop; they run
there with a short timeout (``anyio_lane.HANG_TIMEOUT``), so a listed hang
costs seconds.

``EXCLUDED``: left out of both passes (besides anyio's ``network`` tests,
which need the internet): tests that depend on the machine, not the loop.
"""

from __future__ import annotations

__all__ = ["DIFFERENCES", "EXCLUDED", "HANGS"]

# None at present: the four this lane found (blocking portals into another
# thread's Trio run, and debug mode keeping a finished task) were fixed in
# issue 15 (items 6 and 7).
DIFFERENCES: dict[str, str] = {}

HANGS: frozenset[str] = frozenset()

_NO_IPV6_LOCALHOST = (
    "connects to 'localhost' over IPv6; on the project's machines 'localhost' "
    "resolves to 127.0.0.1 only, so it fails on stock asyncio too (and its "
    "unclosed sockets then fail later tests)"
)

EXCLUDED: dict[str, str] = {
    "tests/test_sockets.py::*ipv6*": _NO_IPV6_LOCALHOST,
    "tests/test_sockets.py::*dualstack*": _NO_IPV6_LOCALHOST,
    "tests/test_sockets.py::*-multi]": _NO_IPV6_LOCALHOST,
    "tests/test_to_thread.py::TestBlockingPortalProvider::test_single_thread?asyncio*": (
        "asserts the process's thread count is unchanged across the test; it "
        "failed at random in this lane on stock asyncio as well as on trioloop"
    ),
}
