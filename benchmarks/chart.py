#!/usr/bin/env python3
"""Turn a ``run.py`` JSON result into a PNG chart for the docs.

    python benchmarks/chart.py benchmarks/results/X.json [-o docs/_static/benchmarks.png]

Left: every throughput workload as the ratio of medians to its baseline
(stock asyncio; plain ``trio.sleep(0)`` for ``bridge_aio_as_trio``), log
scale, whiskers from the min and max repetition.  Right: peak RSS holding
idle connections (MiB, lower is better).  Needs matplotlib (Pillow, which
comes with it, shrinks the PNG to a palette image).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run
import workloads as W

COLORS = {
    "asyncio": "#7f7f7f",
    "uvloop": "#2ca02c",
    "trio_asyncio": "#ff7f0e",
    "trioloop": "#1f77b4",
    "trioloop_portable": "#17becf",
    "trioloop_sync": "#9ecae1",
    "trio": "#d62728",
}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("json")
    ap.add_argument("-o", "--output", help="PNG path (default: next to the JSON)")
    ap.add_argument("--dpi", type=int, default=72)
    a = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(a.json) as f:
        data = json.load(f)
    run.summarize(data)
    impls = run.impls_of(data)
    wls = data["workloads"]
    ratio_names = [n for n, wd in wls.items() if wd["higher_is_better"]]
    mem_names = [n for n, wd in wls.items() if not wd["higher_is_better"]]

    height = max(4.0, 0.42 * len(ratio_names) * (len(impls) / 4) + 1.5)
    fig = plt.figure(figsize=(11, height))
    right = 0.73 if mem_names else 0.97
    ax = fig.add_axes((0.19, 0.9 / height + 0.02, right - 0.19, 1 - 1.6 / height))
    bar_h = 0.8 / len(impls)
    for k, impl in enumerate(impls):
        ys, xs, lo, hi = [], [], [], []
        for row, name in enumerate(ratio_names):
            wd = wls[name]
            r = wd["results"].get(impl)
            base = wd["results"].get(wd["baseline"], {}).get("median")
            if not r or r["median"] is None or not base:
                continue
            y = len(ratio_names) - 1 - row + (len(impls) / 2 - k - 0.5) * bar_h
            x = r["median"] / base
            ys.append(y)
            xs.append(x)
            lo.append(x - r["min"] / base)
            hi.append(r["max"] / base - x)
        ax.barh(ys, xs, height=bar_h, color=COLORS.get(impl), label=W.LABELS[impl],
                xerr=[lo, hi], error_kw={"elinewidth": 0.6, "capsize": 0, "ecolor": "#333"})  # fmt: skip
    labels = []
    for name in ratio_names:
        base = wls[name]["baseline"]
        labels.append(name if base == "asyncio" else f"{name}\n(vs {W.LABELS[base]})")
    ax.set_yticks(range(len(ratio_names)))
    ax.set_yticklabels(list(reversed(labels)), fontsize=8)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel(
        "throughput relative to the baseline (ratio of medians; log scale; higher is better)"
    )
    ax.set_ylim(-0.6, len(ratio_names) - 0.4)
    ax.grid(axis="x", which="both", linewidth=0.3, alpha=0.6)
    ax.legend(loc="lower right", fontsize=8)

    if mem_names:
        mx = fig.add_axes((0.86, 1 - 3.6 / height, 0.12, 2.6 / height))
        name = mem_names[0]
        wd = wls[name]
        names, vals, lo, hi, cols = [], [], [], [], []
        for impl in impls:
            r = wd["results"].get(impl)
            if not r or r["median"] is None:
                continue
            names.append(W.LABELS[impl])
            vals.append(r["median"])
            lo.append(r["median"] - r["min"])
            hi.append(r["max"] - r["median"])
            cols.append(COLORS.get(impl))
        mx.barh(range(len(vals))[::-1], vals, color=cols, xerr=[lo, hi],
                error_kw={"elinewidth": 0.6, "capsize": 0})  # fmt: skip
        mx.set_yticks(range(len(vals))[::-1])
        mx.set_yticklabels(names, fontsize=8)
        conns = next(
            (e["extra"]["conns"] for r in wd["results"].values() for e in r["extra"]
             if e.get("extra", {}).get("conns")),
            None,
        )  # fmt: skip
        mx.set_title(f"peak RSS,\n{conns or '?'} idle connections", fontsize=8)
        mx.set_xlabel("MiB (lower is better)")
        mx.grid(axis="x", linewidth=0.3, alpha=0.6)

    meta = data["meta"]
    m = meta["machine"]
    fig.suptitle(
        f"trioloop benchmarks - Python {meta['python']['python']}, {m['nproc']} x {m['cpu_model']}, "
        f"{meta['reps']} repetitions, {meta['date'][:10]}",
        fontsize=10,
        y=1 - 0.15 / height,
    )
    out = a.output or os.path.splitext(a.json)[0] + ".png"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=a.dpi)
    try:  # a palette PNG is a fraction of the size, and looks the same here
        from PIL import Image

        with Image.open(out) as im:
            im.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(
                out, optimize=True
            )
    except ImportError:
        pass
    print(f"wrote {out} ({os.path.getsize(out) // 1024} KiB)")


if __name__ == "__main__":
    main()
