#!/usr/bin/env python3
"""Instructions per operation of the loop micro-benchmarks, under callgrind.

    python benchmarks/instructions.py [--only call_soon_chain] [--impl trioloop]
                                      [--trioloop-rev HEAD] [-j 2]

Wall-clock throughput on a shared 2-core machine moves by 2x between
repetitions; the number of instructions a workload executes does not.  Each
(workload, implementation) runs twice under ``valgrind --tool=callgrind``
(``_worker.py --fixed N``) with N1 and N2 operations; the difference divided
by N2 - N1 is the marginal cost of one operation, start-up excluded.  It is
a proxy: it counts no cache misses and no time in the kernel, so it suits the
pure-Python loop paths (the micro-benchmarks), not the network workloads.

Needs valgrind (``apt-get install -y valgrind``); about 10 minutes for all.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run
import workloads as W

IMPLS = ["asyncio", "uvloop", "trioloop", "trioloop_portable", "trioloop_sync"]
#: valgrind slows Python ~50x: the driver's yield interval is scaled alike.
YIELD_SCALE = 50.0


def count(python: str, impl: str, name: str, n: int) -> int:
    cmd = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        python, os.path.join(HERE, "_worker.py"), impl, name,
        "--fixed", str(n), "--yield-scale", str(YIELD_SCALE),
    ]  # fmt: skip
    p = subprocess.run(
        cmd, capture_output=True, text=True, env=run.worker_env(), check=False
    )
    m = re.search(r"Collected : (\d+)", p.stderr)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"{impl} {name} n={n}: {p.stderr[-1500:]}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only", action="append", help="micro workload names (comma-separated)"
    )
    ap.add_argument(
        "--impl", action="append", help=f"implementations (default {', '.join(IMPLS)})"
    )
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--trioloop-rev", metavar="REV")
    ap.add_argument("--n1", type=int, default=4000)
    ap.add_argument("--n2", type=int, default=24000)
    ap.add_argument("-j", "--jobs", type=int, default=2)
    a = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind not found: apt-get update && apt-get install -y valgrind")
    if a.trioloop_rev:
        run.SNAPSHOT, rev = run.snapshot(a.trioloop_rev)
        print(f"trioloop at {rev}", file=sys.stderr)
    names = [x for arg in (a.only or [",".join(W.MICRO)]) for x in arg.split(",") if x]
    impls = [x for arg in (a.impl or IMPLS) for x in arg.split(",") if x]
    if "asyncio" not in impls:
        impls.insert(0, "asyncio")
    jobs = [(impl, name, n) for name in names for impl in impls for n in (a.n1, a.n2)]
    with ThreadPoolExecutor(a.jobs) as pool:
        counts = dict(
            zip(jobs, pool.map(lambda j: count(a.python, *j), jobs), strict=True)
        )
    per = {
        (impl, name): (counts[impl, name, a.n2] - counts[impl, name, a.n1])
        / (a.n2 - a.n1)
        for name in names
        for impl in impls
    }
    print(
        f"\nInstructions per operation (callgrind, marginal over {a.n1}..{a.n2} ops); "
        "in brackets: asyncio's count / this one (>1 is fewer instructions)"
    )
    print(f"{'workload':18}" + "".join(f"{W.LABELS[i]:>24}" for i in impls))
    for name in names:
        base = per["asyncio", name]
        cells = "".join(
            f"{per[i, name]:>15,.0f} ({base / per[i, name]:.2f}x)" for i in impls
        )
        print(f"{name:18}{cells}")


if __name__ == "__main__":
    main()
