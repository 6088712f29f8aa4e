"""What the sample tests expect: ``EXPECT_TRIOLOOP=1`` (set by the test that
runs this suite) means asyncio tests must find a ``TrioEventLoop`` running,
``0`` that they must find asyncio's own loop."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def expect_trioloop() -> bool:
    return os.environ["EXPECT_TRIOLOOP"] == "1"
