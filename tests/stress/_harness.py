"""What every scenario process shares: the loop under test, process figures
read from ``/proc``, asyncio's log captured, and the result hand-off.

A scenario module defines ``scenario(impl, mode) -> Outcome`` and ends with
``main(scenario)``.  ``run.py`` starts it as
``python -m tests.stress.scenario_X --impl IMPL --mode MODE --result FILE``;
the process writes its figures to ``FILE`` as JSON and exits 0 when its own
checks passed, 1 when they did not.  A process that does neither within its
time limit is killed by the runner and counted as a hang.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import trioloop

__all__ = [
    "IMPLS",
    "LogCapture",
    "Outcome",
    "Resources",
    "children",
    "fit_slope",
    "gather_bounded",
    "main",
    "open_fds",
    "peak_rss",
    "raise_nofile",
    "rss",
    "run_on",
    "settle",
    "settle_sync",
    "thread_count",
]

#: The loops compared: stock asyncio (the reference) and trioloop.
IMPLS = ("asyncio", "trioloop")

HOST = "127.0.0.1"


@dataclass
class Outcome:
    """What a scenario reports: figures (JSON-able) and the checks that failed."""

    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def run_on(impl: str, coro: Coroutine[Any, Any, Any], *, debug: bool = False) -> Any:
    """Run ``coro`` on stock asyncio or on trioloop (hosted in a fresh trio.run)."""
    if impl == "asyncio":
        return asyncio.run(coro, debug=debug)
    if impl == "trioloop":
        return trioloop.run(coro, debug=debug)
    raise ValueError(f"unknown loop {impl!r}")


# -- process figures (Linux /proc) ----------------------------------------------


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1])
    raise KeyError(key)


def rss() -> int:
    """Resident set size of this process, in bytes."""
    return _status_kib("VmRSS:") * 1024


def peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes."""
    return _status_kib("VmHWM:") * 1024


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def children() -> list[int]:
    """Pids of this process's live (or zombie) children."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.append(int(entry))
    return found


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@dataclass
class Resources:
    """A snapshot of what a leak would show: fds, threads, children."""

    fds: set[int]
    threads: int
    children: list[int]

    @classmethod
    def now(cls) -> Resources:
        return cls(open_fds(), thread_count(), children())

    def leaks_since(self, baseline: Resources) -> list[str]:
        leaks = []
        extra_fds = self.fds - baseline.fds
        if extra_fds:
            leaks.append(
                f"fds {sorted(extra_fds)[:10]} ({len(extra_fds)} more than baseline)"
            )
        if self.threads > baseline.threads:
            leaks.append(f"threads {self.threads} > baseline {baseline.threads}")
        extra_children = set(self.children) - set(baseline.children)
        if extra_children:
            leaks.append(f"child processes {sorted(extra_children)}")
        return leaks


async def settle(baseline: Resources, seconds: float = 3.0) -> list[str]:
    """Wait (in asyncio) until no leak shows against ``baseline``, or give up."""
    deadline = time.monotonic() + seconds
    while True:
        gc.collect()
        leaks = Resources.now().leaks_since(baseline)
        if not leaks or time.monotonic() > deadline:
            return leaks
        await asyncio.sleep(0.05)


def settle_sync(baseline: Resources, seconds: float = 3.0) -> list[str]:
    """``settle`` outside any loop."""
    deadline = time.monotonic() + seconds
    while True:
        gc.collect()
        leaks = Resources.now().leaks_since(baseline)
        if not leaks or time.monotonic() > deadline:
            return leaks
        time.sleep(0.05)


def fit_slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(x, y)`` points (0.0 for fewer than two)."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


# -- asyncio's log ---------------------------------------------------------------


class LogCapture(logging.Handler):
    """Collects what asyncio logs (errors from callbacks, the exception
    handler's reports) so a scenario can tell the expected from the alarming."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._logger = logging.getLogger("asyncio")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> LogCapture:
        self._logger.addHandler(self)
        self._old_level = self._logger.level
        self._old_propagate = self._logger.propagate
        self._logger.setLevel(logging.WARNING)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._old_level)
        self._logger.propagate = self._old_propagate

    def messages(self) -> list[str]:
        """First line of each record, with what it is about (asyncio's
        reports name the future or handle on the next lines)."""
        return [_summary(record) for record in self.records]

    def count(self, text: str) -> int:
        return sum(text in message for message in self.messages())

    def alarming(self, expected: tuple[str, ...] = ()) -> list[str]:
        """Logged lines that are neither expected nor benign."""
        return [m for m in self.messages() if not any(e in m for e in expected)]


def _summary(record: logging.LogRecord) -> str:
    lines = record.getMessage().splitlines()
    about = " | ".join(line.strip() for line in lines[1:3])
    if record.exc_info and record.exc_info[1] is not None:
        about += f" | {record.exc_info[1]!r}"
    return f"{lines[0]} [{about[:300]}]" if about else lines[0]


# -- the process entry point -------------------------------------------------------


def main(scenario: Callable[[str, str], Outcome]) -> None:
    """Parse the arguments, run ``scenario``, hand the figures over, exit."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=IMPLS, required=True)
    parser.add_argument("--mode", choices=("quick", "full"), default="quick")
    parser.add_argument("--result", help="write figures here as JSON (default: stdout)")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        outcome = scenario(args.impl, args.mode)
    except BaseException:
        outcome = Outcome(problems=["crashed: " + traceback.format_exc(limit=8)])
    outcome.figures.setdefault("seconds", round(time.monotonic() - started, 2))
    report = {
        "figures": outcome.figures,
        "problems": outcome.problems,
        "ok": not outcome.problems,
    }
    text = json.dumps(report, indent=1, default=str)
    if args.result:
        with open(args.result, "w") as out:
            out.write(text)
    else:
        print(text)
    sys.stdout.flush()
    # Threads left behind (a leak the scenario reported) must not keep the
    # process alive past its verdict.
    os._exit(0 if not outcome.problems else 1)


async def gather_bounded(
    limit: int, factories: list[Callable[[], Awaitable[Any]]]
) -> list[Any]:
    """Run ``factories`` with at most ``limit`` in flight; exceptions are returned."""
    semaphore = asyncio.Semaphore(limit)

    async def one(factory: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await factory()

    return await asyncio.gather(*(one(f) for f in factories), return_exceptions=True)
