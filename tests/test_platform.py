"""What a platform cannot do fails as asyncio's own loop fails there.

On Windows, asyncio's selector loop has no subprocesses, no pipes and no
signal handlers (``NotImplementedError``); trioloop's loop raises the same.
Elsewhere they work (tests/test_subprocess.py, test_pipes.py,
test_signals.py).  These run only on Windows: in the CI workflow
(.github/workflows/ci.yml), not on this project's Linux machines.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform != "win32", reason="Windows only: elsewhere these work"
)


async def _what_is_not_implemented() -> list[str]:
    loop = asyncio.get_running_loop()
    missing = []
    try:
        loop.add_signal_handler(signal.SIGINT, print)
    except NotImplementedError:
        missing.append("add_signal_handler")
    try:
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    except NotImplementedError:
        missing.append("subprocess")
    with open(os.devnull, "rb") as pipe:
        try:
            await loop.connect_read_pipe(asyncio.Protocol, pipe)
        except NotImplementedError:
            missing.append("read pipe")
    return missing


def test_missing_on_windows_as_in_asyncio(run, flavour):
    assert run(_what_is_not_implemented()) == [
        "add_signal_handler",
        "subprocess",
        "read pipe",
    ]
