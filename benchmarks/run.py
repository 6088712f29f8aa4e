#!/usr/bin/env python3
"""Benchmark trioloop against stock asyncio, trio-asyncio and uvloop.

    python benchmarks/run.py                 # every workload, 5 repetitions
    python benchmarks/run.py --quick         # CI smoke: 1 repetition, small counts
    python benchmarks/run.py --only 'tcp_*' --only queue --reps 3
    python benchmarks/run.py --list
    python benchmarks/run.py --from-json benchmarks/results/X.json [--markdown]

Run it with the interpreter of a venv that has the benchmark dependencies
(``benchmarks/requirements.txt`` plus ``pip install -e .``); ``--python``
picks another interpreter for the measurements.

Each measurement is one fresh process (``_worker.py IMPL WORKLOAD``), so
implementations cannot interfere (trio-asyncio patches asyncio on import).
Implementations alternate: every repetition runs every workload on every
implementation, in an order rotated per repetition, so slow drifts of a noisy
machine hit all of them alike.  Reported per workload: median and min-max
over the repetitions, and the ratio of medians to the baseline (stock
asyncio; plain ``trio.sleep(0)`` for the Trio -> asyncio bridge).
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import fnmatch
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import workloads as W

WORKER = os.path.join(HERE, "_worker.py")
WRK_HINT = "install it with: apt-get update && apt-get install -y wrk"


# -- environment ------------------------------------------------------------------


#: Set by --trioloop-rev: a directory holding that revision's src/trioloop.
SNAPSHOT: str | None = None
#: glibc malloc thresholds fixed for every measured process (--malloc-default
#: turns this off).  asyncio's socket transports recv() into a fresh 256 KiB
#: bytes object per read; unless glibc's *dynamic* mmap threshold has been
#: raised by the process's allocation history, each of those is an mmap, a
#: page fault, an mremap and a munmap (~20 us).  Which processes hit that
#: depends on incidental allocations (imports), so it makes one
#: implementation look 3x slower than another for reasons unrelated to the
#: event loop.  Fixed thresholds put every process in the same (fast) state.
MALLOC_TUNABLES = (
    "glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=8388608"
)
USE_MALLOC_TUNABLES = True


def snapshot(rev: str) -> tuple[str, str]:
    """Extract ``rev``'s ``src/trioloop`` (git archive) into a temporary
    directory; its ``src`` goes first on the workers' PYTHONPATH."""
    import tempfile

    full = subprocess.run(
        ["git", "-C", REPO, "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest = tempfile.mkdtemp(prefix=f"trioloop-{full}-")
    atexit.register(shutil.rmtree, dest, True)
    archive = subprocess.run(
        ["git", "-C", REPO, "archive", full, "src/trioloop"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return os.path.join(dest, "src"), full


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    if SNAPSHOT:
        env["PYTHONPATH"] = SNAPSHOT + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
    for var in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE", "PYTHONTRACEMALLOC"):
        env.pop(var, None)
    if USE_MALLOC_TUNABLES and "GLIBC_TUNABLES" not in env:
        env["GLIBC_TUNABLES"] = MALLOC_TUNABLES
    # trio-asyncio 0.16 warns about AbstractChildWatcher on 3.12+.
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    return env


def probe(python: str) -> dict[str, Any]:
    """Interpreter, package versions and importable modules of ``python``."""
    code = r"""
import importlib.metadata as md, importlib.util as u, json, platform, sys
pk = {}
for name in ("trioloop", "trio", "trio-asyncio", "uvloop", "aiohttp", "sniffio", "outcome"):
    try: pk[name] = md.version(name)
    except md.PackageNotFoundError: pk[name] = None
mods = {m: u.find_spec(m) is not None for m in ("uvloop", "trio_asyncio", "trioloop", "trio", "aiohttp")}
spec = u.find_spec("trioloop")
print(json.dumps({"trioloop_file": spec.origin if spec else None, "python": platform.python_version(), "implementation": platform.python_implementation(),
                  "executable": sys.executable, "packages": pk, "modules": mods}))
"""
    out = subprocess.run(
        [python, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=worker_env(),
    )
    return json.loads(out.stdout)


def machine() -> dict[str, Any]:
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "cpu_model": model,
        "mem_gib": mem,
        "kernel": platform.release(),
        "platform": platform.platform(),
    }


def git_rev() -> str | None:
    try:
        rev = subprocess.run(
            ["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", REPO, "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return rev + ("+dirty-src" if dirty else "") if rev else None
    except OSError:
        return None


# -- running ----------------------------------------------------------------------


def run_worker(
    python: str, impl: str, name: str, quick: bool, timeout: float
) -> dict[str, Any]:
    cmd = [python, WORKER, impl, name] + (["--quick"] if quick else [])
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=worker_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        tail = "\n".join(p.stderr.strip().splitlines()[-15:])
        return {"error": f"exit {p.returncode}: {tail}"}
    try:
        res = json.loads(lines[-1])
    except ValueError:
        return {"error": f"unparsable output: {lines[-1][:200]}"}
    res["wall_seconds"] = round(wall, 3)
    return res


def select_workloads(only: list[str] | None) -> list[W.Workload]:
    if not only:
        return list(W.WORKLOADS)
    patterns = [p for arg in only for p in arg.split(",") if p]
    chosen = [
        w
        for w in W.WORKLOADS
        if any(fnmatch.fnmatch(w.name, p) or w.group == p for p in patterns)
    ]
    if not chosen:
        sys.exit(f"no workload matches {patterns}; see --list")
    return chosen


def fmt_value(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "MiB":
        return f"{v:.1f} MiB"
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


def summarize(data: dict[str, Any]) -> None:
    """Fill median/min/max/ratio from the samples, in place."""
    for wd in data["workloads"].values():
        for r in wd["results"].values():
            s = r["samples"]
            r["median"] = statistics.median(s) if s else None
            r["min"] = min(s) if s else None
            r["max"] = max(s) if s else None
        base = wd["results"].get(wd["baseline"], {}).get("median")
        for r in wd["results"].values():
            r["ratio"] = (
                r["median"] / base if (base and r["median"] is not None) else None
            )


#: Secondary numbers workers report in "extra": shown as medians.
SECONDARY = {
    "cpu_us_per_op": "CPU µs per operation (process time; lower is better)",
    "server_cpu_us_per_op": "server CPU µs per round trip / request (lower is better)",
    "kib_per_conn": "RSS growth per idle connection, KiB",
    "us_per_run": "µs per run()",
}


def secondary(data: dict[str, Any], name: str, impl: str, key: str) -> float | None:
    r = data["workloads"][name]["results"].get(impl)
    vals = [
        e["extra"][key] for e in (r or {}).get("extra", []) if key in e.get("extra", {})
    ]
    return statistics.median(vals) if vals else None


def impls_of(data: dict[str, Any]) -> list[str]:
    seen = [i for wd in data["workloads"].values() for i in wd["results"]]
    order = W.IMPLS + ["trio"]
    return [i for i in order if i in seen]


def cell_status(r: dict[str, Any]) -> str:
    if r.get("na"):
        return "n/a"
    if r.get("errors") and not r["samples"]:
        return "error"
    return "-"


def print_table(data: dict[str, Any], out=sys.stdout) -> None:
    w = out.write
    w(
        f"\n{'workload / implementation':34} {'median':>11}   {'min - max':<21} {'ratio':>6}\n"
    )
    for name, wd in data["workloads"].items():
        better = "higher is better" if wd["higher_is_better"] else "lower is better"
        w(f"{name}  [{wd['unit']}, {better}; ratio vs {W.LABELS[wd['baseline']]}]\n")
        for impl, r in wd["results"].items():
            unit = wd["unit"]
            if r["median"] is None:
                why = r.get("na") or "; ".join(r.get("errors", []))[:60]
                w(f"  {W.LABELS[impl]:32} {cell_status(r):>11}   {why}\n")
                continue
            rng = f"{fmt_value(r['min'], unit)} - {fmt_value(r['max'], unit)}"
            ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else ""
            n = len(r["samples"])
            errs = f"  ({len(r['errors'])} failed)" if r.get("errors") else ""
            w(
                f"  {W.LABELS[impl]:32} {fmt_value(r['median'], unit):>11}   {rng:<21} {ratio:>6}  n={n}{errs}\n"
            )
    # Compact matrix of ratios.
    impls = impls_of(data)
    w(
        "\nRatio of medians to the baseline (asyncio; trio.sleep(0) for bridge_aio_as_trio;"
        " memory: lower is better)\n"
    )
    w(f"{'workload':26}" + "".join(f"{W.LABELS[i]:>20}" for i in impls) + "\n")
    for name, wd in data["workloads"].items():
        row = f"{name:26}"
        for i in impls:
            r = wd["results"].get(i)
            if r is None:
                row += f"{'':>16}"
            elif r["ratio"] is None:
                row += f"{cell_status(r):>16}"
            else:
                row += f"{r['ratio']:>15.2f}x"
        w(row + "\n")


def fmt_num(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def secondary_rows(
    data: dict[str, Any],
) -> list[tuple[str, str, dict[str, float | None]]]:
    rows = []
    impls = impls_of(data)
    for name in data["workloads"]:
        for key in SECONDARY:
            vals = {i: secondary(data, name, i, key) for i in impls}
            if any(v is not None for v in vals.values()):
                rows.append((name, key, vals))
    return rows


def print_secondary(data: dict[str, Any], out=sys.stdout) -> None:
    rows = secondary_rows(data)
    if not rows:
        return
    impls = impls_of(data)
    out.write("\nSecondary measurements (medians):\n")
    for k, v in SECONDARY.items():
        out.write(f"  {k}: {v}\n")
    out.write(
        f"{'workload':26}{'':22}" + "".join(f"{W.LABELS[i]:>20}" for i in impls) + "\n"
    )
    for name, key, vals in rows:
        out.write(
            f"{name:26}{key:22}"
            + "".join(f"{fmt_num(vals[i]):>16}" for i in impls)
            + "\n"
        )


def markdown(data: dict[str, Any]) -> str:
    impls = impls_of(data)
    lines = [
        "| workload | unit | " + " | ".join(W.LABELS[i] for i in impls) + " |",
        "|---|---|" + "---:|" * len(impls),
    ]
    for name, wd in data["workloads"].items():
        unit = wd["unit"] + ("" if wd["higher_is_better"] else " (lower is better)")
        cells = []
        for i in impls:
            r = wd["results"].get(i)
            if r is None:
                cells.append("")
            elif r["median"] is None:
                cells.append(cell_status(r))
            else:
                ratio = f" ({r['ratio']:.2f}×)" if r["ratio"] is not None else ""
                bold = "**" if i == wd["baseline"] else ""
                cells.append(f"{bold}{fmt_value(r['median'], wd['unit'])}{bold}{ratio}")
        lines.append(f"| `{name}` | {unit} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Min - max over the repetitions:")
    lines.append("")
    lines.append("| workload | " + " | ".join(W.LABELS[i] for i in impls) + " |")
    lines.append("|---|" + "---:|" * len(impls))
    for name, wd in data["workloads"].items():
        cells = []
        for i in impls:
            r = wd["results"].get(i)
            if r is None or r["median"] is None:
                cells.append("")
            else:
                cells.append(
                    f"{fmt_value(r['min'], wd['unit'])} – {fmt_value(r['max'], wd['unit'])}"
                )
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    rows = secondary_rows(data)
    if rows:
        lines += ["", "Secondary measurements (medians):", ""]
        lines.append(
            "| workload | measure | " + " | ".join(W.LABELS[i] for i in impls) + " |"
        )
        lines.append("|---|---|" + "---:|" * len(impls))
        for name, key, vals in rows:
            cells = [fmt_num(vals[i]) for i in impls]
            lines.append(f"| `{name}` | {SECONDARY[key]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def default_output(info: dict[str, Any], quick: bool) -> str:
    name = f"{info['implementation'].lower()}-{info['python']}-{dt.date.today().isoformat()}"
    return os.path.join(HERE, "results", name + ("-quick" if quick else "") + ".json")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reps", type=int, help="repetitions (default 5; 1 with --quick)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small counts and budgets, 1 repetition (CI smoke)",
    )
    ap.add_argument(
        "--only",
        action="append",
        metavar="WORKLOAD",
        help="workload name, glob ('tcp_*') or group (loop, tcp, net, bridge, startup, memory); repeatable, comma-separated",
    )
    ap.add_argument(
        "--impl",
        action="append",
        metavar="IMPL",
        help=f"only these implementations ({', '.join(W.IMPLS)}); baselines are always kept",
    )
    ap.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter for the measurements (default: this one)",
    )
    ap.add_argument(
        "--output",
        "-o",
        help="JSON path (default benchmarks/results/<python>-<date>.json)",
    )
    ap.add_argument("--no-output", action="store_true", help="write no JSON")
    ap.add_argument(
        "--trioloop-rev",
        metavar="REV",
        help="measure trioloop as committed at git REV (e.g. HEAD) instead of the installed (working-tree) copy",
    )
    ap.add_argument(
        "--malloc-default",
        action="store_true",
        help="do not fix glibc's malloc thresholds in the measured processes (see MALLOC_TUNABLES)",
    )
    ap.add_argument(
        "--timeout", type=float, default=300, help="per-measurement timeout, seconds"
    )
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument(
        "--from-json", metavar="PATH", help="print the table of an earlier run and exit"
    )
    ap.add_argument(
        "--markdown", action="store_true", help="print the table as Markdown too"
    )
    a = ap.parse_args()

    if a.list:
        for wl in W.WORKLOADS:
            print(f"{wl.name:24} {wl.group:8} {wl.description}")
        return
    if a.from_json:
        with open(a.from_json) as f:
            data = json.load(f)
        summarize(data)
        print_table(data)
        print_secondary(data)
        if a.markdown:
            print("\n" + markdown(data))
        return

    global SNAPSHOT, USE_MALLOC_TUNABLES
    USE_MALLOC_TUNABLES = not a.malloc_default
    trioloop_rev = git_rev()
    if a.trioloop_rev:
        SNAPSHOT, trioloop_rev = snapshot(a.trioloop_rev)
    reps = a.reps or (1 if a.quick else 5)
    chosen = select_workloads(a.only)
    info = probe(a.python)
    impls = list(W.IMPLS) + ["trio"]
    if a.impl:
        keep = {x for arg in a.impl for x in arg.split(",")}
        unknown = keep - set(impls)
        if unknown:
            sys.exit(f"unknown implementation(s) {sorted(unknown)}; known: {impls}")
        keep |= {"asyncio", "trio"}
        impls = [i for i in impls if i in keep]

    unavailable: dict[str, str] = {}
    for impl in impls:
        mod = W.IMPL_MODULES[impl]
        if mod != "asyncio" and not info["modules"].get(mod):
            unavailable[impl] = f"{mod} is not installed for {a.python}"
            print(
                f"note: {impl}: n/a ({unavailable[impl]}); see benchmarks/requirements.txt",
                file=sys.stderr,
            )
    missing_for: dict[str, str] = {}
    for wl in chosen:
        for prog in wl.needs_programs:
            if shutil.which(prog) is None:
                missing_for[wl.name] = (
                    f"'{prog}' not found; {WRK_HINT if prog == 'wrk' else 'install it'}"
                )
        for mod in wl.needs_modules:
            if not info["modules"].get(mod):
                missing_for[wl.name] = f"module {mod} is not installed for {a.python}"
        if wl.name in missing_for:
            print(
                f"WARNING: {wl.name} skipped: {missing_for[wl.name]}", file=sys.stderr
            )

    data: dict[str, Any] = {
        "meta": {
            "date": dt.datetime.now().isoformat(timespec="seconds"),
            "python": info,
            "machine": machine(),
            "trioloop_git": trioloop_rev,
            "reps": reps,
            "quick": a.quick,
            "glibc_tunables": worker_env().get("GLIBC_TUNABLES"),
            "command": " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
        },
        "workloads": {},
    }
    for wl in chosen:
        results = {}
        for impl in impls:
            if impl not in wl.impls:
                continue
            na = unavailable.get(impl) or missing_for.get(wl.name)
            results[impl] = {"samples": [], "extra": [], "errors": [], "na": na}
        data["workloads"][wl.name] = {
            "group": wl.group,
            "description": wl.description,
            "unit": wl.unit,
            "higher_is_better": wl.higher_is_better,
            "baseline": wl.baseline,
            "results": results,
        }

    out_path = None if a.no_output else (a.output or default_output(info, a.quick))
    if hasattr(os, "getloadavg"):
        data["meta"]["loadavg_before"] = [round(x, 2) for x in os.getloadavg()]
        load1 = os.getloadavg()[0]
        if load1 > 0.5 * (os.cpu_count() or 1):
            print(
                f"note: load average {load1:.2f} on {os.cpu_count()} CPUs: other processes are "
                "busy; expect noise (medians over --reps help)",
                file=sys.stderr,
            )
    started = time.perf_counter()
    print(
        f"trioloop benchmarks: {len(chosen)} workload(s) x {reps} repetition(s), "
        f"Python {info['python']} ({a.python})",
        file=sys.stderr,
    )
    for rep in range(reps):
        for wl in chosen:
            wd = data["workloads"][wl.name]
            order = [i for i in impls if i in wd["results"]]
            k = rep % len(order) if order else 0
            order = order[k:] + order[:k]
            parts = []
            for impl in order:
                r = wd["results"][impl]
                if r["na"]:
                    continue
                res = run_worker(a.python, impl, wl.name, a.quick, a.timeout)
                if "na" in res:
                    r["na"] = res["na"]
                    parts.append(f"{impl}=n/a")
                elif "error" in res:
                    r["errors"].append(res["error"])
                    parts.append(f"{impl}=ERROR")
                    print(f"  ! {wl.name} on {impl}: {res['error']}", file=sys.stderr)
                else:
                    r["samples"].append(res["value"])
                    r["extra"].append({k2: v for k2, v in res.items() if k2 != "value"})
                    parts.append(f"{impl}={fmt_value(res['value'], wl.unit)}")
            elapsed = time.perf_counter() - started
            print(
                f"[rep {rep + 1}/{reps} {elapsed:6.0f}s] {wl.name}: {' '.join(parts)}",
                file=sys.stderr,
            )
        data["meta"].setdefault("loadavg_after_rep", []).append(
            [round(x, 2) for x in os.getloadavg()]
            if hasattr(os, "getloadavg")
            else None
        )
        data["meta"]["total_seconds"] = round(time.perf_counter() - started, 1)
        summarize(data)
        if out_path:
            os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
            tmp = out_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f, indent=1)
            os.replace(tmp, out_path)

    print_table(data)
    print_secondary(data)
    if a.markdown:
        print("\n" + markdown(data))
    total = time.perf_counter() - started
    print(
        f"\ntotal run time: {total:.0f} s"
        + (f"; results: {os.path.relpath(out_path)}" if out_path else "")
    )
    failed = [
        f"{n}/{i}"
        for n, wd in data["workloads"].items()
        for i, r in wd["results"].items()
        if r["errors"] and not r["samples"]
    ]
    if failed:
        print(f"FAILED (no sample): {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
