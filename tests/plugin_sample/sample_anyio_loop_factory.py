"""anyio's asyncio backend on trioloop without the switch: the backend option
``loop_factory``, as trioloop's docs suggest."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

import trioloop

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> Any:
    return ("asyncio", {"loop_factory": trioloop.new_event_loop})


async def test_loop_is_trioloop() -> None:
    assert isinstance(asyncio.get_running_loop(), trioloop.TrioEventLoop)
    await anyio.sleep(0.01)
