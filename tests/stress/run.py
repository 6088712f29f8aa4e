"""Run the stress scenarios on trioloop and on stock asyncio; print figures.

    python -m tests.stress                 # quick mode (CI): a few minutes
    python -m tests.stress --full          # full mode: under 20 minutes
    python -m tests.stress --only 'load_*' --json out.json
    python -m tests.stress --list

Each scenario runs once per loop (stock asyncio first, as the reference,
then trioloop) in a process of its own with a hard time limit; a process
still running at its limit is killed with its whole process group and
counted as a hang.  One line per scenario gives each figure as
``trioloop/asyncio``; a summary follows.  All figures, the machine and the
Python version go to a JSON file (default ``.cache/stress/MODE-pyX.Y.json``).

A scenario's status is PASS, FAIL (trioloop failed its checks), REF-FAIL
(stock asyncio failed them, and trioloop failed none that asyncio passed:
the scenario itself is at fault) or HANG.  When
trioloop fails only checks that a loaded machine can fail (a soak trend,
too few samples, connections not all held), its run is repeated once:
passing then makes the status FLAKY, and both attempts are printed.
Nothing else (lost or corrupted data, leaks, errors) is ever retried.

Exit status: 1 if a scenario is FAIL or HANG, else 0 (a REF-FAIL says
nothing about trioloop; a FLAKY is reported, not fatal).
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: (figure key, label, format) - what a scenario's line shows.
Figure = tuple[str, str, str]


@dataclass
class Scenario:
    name: str
    module: str
    what: str
    limits: dict[str, float]  # hard time limit per mode, seconds (per process)
    figures: list[Figure]
    impls: tuple[str, ...] = ("asyncio", "trioloop")
    command: list[str] | None = None  # a command instead of a scenario module


SCENARIOS = [
    Scenario(
        "load_echo",
        "scenario_load",
        "streams echo server, thousands of connections; clients in another process",
        {"quick": 180, "full": 420},
        [
            ("conns", "conns", "{:.0f}"),
            ("bytes_lost", "lost B", "{:.0f}"),
            ("mb_per_s", "MB/s", "{:.1f}"),
            ("idle_kib_per_conn", "idle KiB/conn", "{:.1f}"),
            ("peak_kib_per_conn", "peak KiB/conn", "{:.1f}"),
            ("connect_s", "connect s", "{:.1f}"),
        ],
    ),
    Scenario(
        "load_mixed",
        "scenario_load_mixed",
        "asyncio server + Trio client tasks in one trio.run (reference: asyncio clients)",
        {"quick": 120, "full": 300},
        [
            ("conns", "conns", "{:.0f}"),
            ("bytes_lost", "lost B", "{:.0f}"),
            ("mb_per_s", "MB/s", "{:.1f}"),
            ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
        ],
    ),
    Scenario(
        "flow",
        "scenario_flow",
        "fast writer -> slow reader through drain(), and the reverse with pause_reading",
        {"quick": 120, "full": 300},
        [
            ("mb", "MB each way", "{:.0f}"),
            ("checksums_ok", "sums ok", "{}"),
            ("write_buffer_max_kib", "max wbuf KiB", "{:.0f}"),
            ("read_buffer_max_kib", "max rbuf KiB", "{:.0f}"),
            ("rss_growth_mb", "RSS growth MB", "{:.1f}"),
        ],
    ),
    Scenario(
        "faults",
        "scenario_faults",
        "resets, half-close, vanish, stall, EMFILE, close with live conns, killed pipe, TLS aborts",
        {"quick": 150, "full": 300},
        [
            ("cases_ok", "cases ok (of 8)", "{}"),
            ("emfile_logged", "EMFILE logs", "{:.0f}"),
            ("emfile_served", "served after EMFILE", "{}"),
            ("wait_closed_blocks", "wait_closed waits", "{}"),
            ("leaks", "leaks", "{:.0f}"),
            ("callback_errors", "callback errors", "{:.0f}"),
        ],
    ),
    Scenario(
        "bridge_fuzz",
        "scenario_fuzz",
        "random aio_as_trio/trio_as_aio call trees with cancellation, against a model",
        {"quick": 240, "full": 600},
        [
            ("examples", "examples", "{:.0f}"),
            ("max_depth", "max depth", "{:.0f}"),
            ("cancelled_calls", "cancelled calls", "{:.0f}"),
            ("failure", "failure", "{}"),
        ],
        impls=("trioloop",),
    ),
    Scenario(
        "soak",
        "scenario_soak",
        "echo + timers + subprocesses + executor + bridge calls; slopes of fds/threads/tasks/RSS",
        {"quick": 120, "full": 480},
        [
            ("seconds_run", "s", "{:.0f}"),
            ("fds_slope_per_min", "fds/min", "{:+.2f}"),
            ("threads_slope_per_min", "threads/min", "{:+.2f}"),
            ("tasks_slope_per_min", "tasks/min", "{:+.2f}"),
            ("rss_slope_mb_per_min", "RSS MB/min", "{:+.2f}"),
            ("timers_per_s", "timers/s", "{:.0f}"),
            ("echo_mb", "echo MB", "{:.0f}"),
            ("errors", "errors", "{:.0f}"),
        ],
    ),
    Scenario(
        "bad_input",
        "",
        "public loop methods with bad input: same exception as stock asyncio (pytest)",
        {"quick": 180, "full": 180},
        [("passed", "passed", "{:.0f}"), ("failed", "failed", "{:.0f}")],
        impls=("trioloop",),
        command=[
            "-m",
            "pytest",
            "tests/test_bad_input.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
    ),
]


# -- running one process ---------------------------------------------------------


def run_one(scenario: Scenario, impl: str, mode: str, python: str) -> dict[str, Any]:
    """Run one scenario on one loop in its own process; never hangs."""
    limit = scenario.limits[mode]
    with tempfile.TemporaryDirectory(prefix="stress-") as tmp:
        result_file = os.path.join(tmp, "result.json")
        if scenario.command is not None:
            argv = [python, *scenario.command]
        else:
            argv = [
                python, "-m", f"tests.stress.{scenario.module}",
                "--impl", impl, "--mode", mode, "--result", result_file,
            ]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1", STRESS_MODE=mode)
        env.pop("PYTHONASYNCIODEBUG", None)
        log_path = os.path.join(tmp, "output.log")
        started = time.monotonic()
        with open(log_path, "w+") as log:
            proc = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            try:
                returncode = proc.wait(timeout=limit)
                hung = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                returncode = proc.wait()
                hung = True
            _kill_group_leftovers(proc.pid)
            log.seek(0)
            output = log.read()
        seconds = time.monotonic() - started
        if scenario.command is not None:
            report = _pytest_report(output, returncode)
        elif os.path.exists(result_file):
            with open(result_file) as f:
                report = json.load(f)
        else:
            report = {
                "figures": {},
                "problems": [f"no result (exit status {returncode})"],
            }
    if hung:
        report["problems"] = [f"HANG: killed after {limit:.0f} s"] + report.get(
            "problems", []
        )
    report["ok"] = not report.get("problems") and returncode == 0 and not hung
    if returncode != 0 and not report.get("problems"):
        report["problems"] = [f"exit status {returncode}"]
        report["ok"] = False
    report["hung"] = hung
    report["wall_seconds"] = round(seconds, 1)
    if not report["ok"]:
        report["output_tail"] = output[-4000:]
    return report


def _kill_group_leftovers(pgid: int) -> None:
    """Children a scenario left behind share its process group: end them."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _pytest_report(output: str, returncode: int) -> dict[str, Any]:
    counts = {
        word: int(n)
        for n, word in re.findall(r"(\d+) (passed|failed|error|skipped)", output)
    }
    figures = {
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0) + counts.get("error", 0),
    }
    problems = []
    if returncode != 0:
        failed = re.findall(r"^FAILED (\S+)", output, flags=re.M)
        problems.append(f"pytest exit status {returncode}; failed: {failed[:10]}")
    return {"figures": figures, "problems": problems}


# -- reporting ------------------------------------------------------------------------


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


#: The only problems a loaded machine can explain: a soak trend or too few
#: samples, connections not all held.  Anything else (lost or corrupted
#: data, leaks, errors logged, a fault case failing) is never retried.
LOAD_SENSITIVE = re.compile(
    r"trend upward|only \d+ samples in|held \d+ of \d+ connections"
)


def worth_retrying(report: dict[str, Any]) -> bool:
    """A failed run whose problems a loaded machine could all explain."""
    problems = report.get("problems", [])
    return (
        not report["ok"]
        and not report.get("hung")
        and bool(problems)
        and all(LOAD_SENSITIVE.search(p) for p in problems)
    )


def status_of(reports: dict[str, dict[str, Any]]) -> str:
    trio_ok = reports["trioloop"]["ok"] if "trioloop" in reports else True
    if any(r.get("hung") for r in reports.values()):
        return "HANG"
    if trio_ok and "first_attempt" in reports.get("trioloop", {}):
        return "FLAKY"
    ref_ok = reports["asyncio"]["ok"] if "asyncio" in reports else True
    if trio_ok and ref_ok:
        return "PASS"
    if trio_ok or (not ref_ok and _same_failure(reports)):
        # Stock asyncio failed (the same checks): the scenario is at fault.
        return "REF-FAIL"
    return "FAIL"


def _same_failure(reports: dict[str, dict[str, Any]]) -> bool:
    """trioloop failed nothing that stock asyncio did not fail too."""
    theirs = set(reports["asyncio"].get("problems", []))
    ours = set(reports["trioloop"].get("problems", []))
    return bool(ours) and ours <= theirs


def line_for(scenario: Scenario, reports: dict[str, dict[str, Any]]) -> str:
    parts = []
    for key, label, fmt in scenario.figures:
        values = [
            _fmt(reports[impl]["figures"].get(key), fmt)
            for impl in ("trioloop", "asyncio")
            if impl in reports
        ]
        parts.append(f"{label} {'/'.join(values)}")
    times = "/".join(
        f"{reports[i]['wall_seconds']:.0f}"
        for i in ("trioloop", "asyncio")
        if i in reports
    )
    return (
        f"{scenario.name:<19} {status_of(reports):<8} "
        + "  ".join(parts)
        + f"  [{times} s]"
    )


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            names = re.findall(r"^model name\s*:\s*(.*)$", f.read(), flags=re.M)
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "mem_gib": round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        ),
    }


def git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.stress", description=__doc__.splitlines()[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", dest="mode", action="store_const", const="quick", help="(default)"
    )
    size.add_argument("--full", dest="mode", action="store_const", const="full")
    parser.add_argument(
        "--only", action="append", metavar="GLOB", help="scenarios to run (repeatable)"
    )
    parser.add_argument(
        "--impl", choices=("asyncio", "trioloop"), help="run on one loop only"
    )
    parser.add_argument("--json", metavar="PATH", help="where the figures go")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for the scenarios"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the scenarios and exit"
    )
    args = parser.parse_args(argv)
    mode = args.mode or "quick"

    chosen = [
        s
        for s in SCENARIOS
        if not args.only or any(fnmatch.fnmatch(s.name, g) for g in args.only)
    ]
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:<19} {s.what}")
        return 0
    if not chosen:
        print(f"no scenario matches {args.only}", file=sys.stderr)
        return 2

    info = machine()
    print(
        f"trioloop stress, {mode} mode: Python {info['python']} on {info['nproc']} x {info['cpu']}"
        f" (git {git_revision()})"
    )
    print("figures are trioloop/asyncio (stock asyncio is the reference)")
    started = time.monotonic()
    results: dict[str, Any] = {}
    statuses: dict[str, str] = {}
    for scenario in chosen:
        reports: dict[str, dict[str, Any]] = {}
        for impl in ("asyncio", "trioloop"):
            if impl in scenario.impls and (args.impl is None or args.impl == impl):
                reports[impl] = run_one(scenario, impl, mode, args.python)
        trio_report = reports.get("trioloop")
        if trio_report is not None and worth_retrying(trio_report):
            reports["trioloop"] = run_one(scenario, "trioloop", mode, args.python)
            reports["trioloop"]["first_attempt"] = trio_report
        if not reports:
            continue
        statuses[scenario.name] = status_of(reports)
        print(line_for(scenario, reports), flush=True)
        for impl, report in reports.items():
            first = report.get("first_attempt")
            for problem in first.get("problems", []) if first else []:
                print(
                    f"    {impl} (1st attempt): {problem.rstrip()}".replace(
                        "\n", "\n      "
                    )
                )
            for problem in report.get("problems", []):
                print(f"    {impl}: {problem.rstrip()}".replace("\n", "\n      "))
        results[scenario.name] = {
            "what": scenario.what,
            "status": statuses[scenario.name],
            **reports,
        }

    elapsed = time.monotonic() - started
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    bad = [name for name, status in statuses.items() if status != "PASS"]
    print(
        f"summary: {summary} in {elapsed:.0f} s"
        + (f"; not passed: {', '.join(bad)}" if bad else "")
    )

    path = args.json or os.path.join(
        REPO,
        ".cache",
        "stress",
        f"{mode}-py{sys.version_info[0]}.{sys.version_info[1]}.json",
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as out:
        json.dump(
            {
                "mode": mode,
                "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "git": git_revision(),
                "machine": info,
                "seconds": round(elapsed, 1),
                "statuses": statuses,
                "scenarios": results,
            },
            out,
            indent=1,
            default=str,
        )
    print(f"figures written to {os.path.relpath(path, os.getcwd())}")
    # A REF-FAIL is stock asyncio failing the scenario's checks (seen once:
    # 3.13 logging "Future exception was never retrieved" in the faults
    # scenario): reported above, but no verdict on trioloop.
    return 1 if any(statuses[name] in ("FAIL", "HANG") for name in bad) else 0


if __name__ == "__main__":
    sys.exit(main())
