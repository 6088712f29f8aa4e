"""Run one workload under one implementation, in this (fresh) process.

    python benchmarks/_worker.py IMPL WORKLOAD [--quick]
           [--profile OUT] [--profiler cprofile|pyinstrument]
    python benchmarks/_worker.py IMPL MICRO_WORKLOAD --fixed N   (instructions.py)

Prints one JSON line: ``{"value": ..., "extra": {...}, ...}``, or
``{"na": "why"}`` when the combination does not exist (for example
``trioloop.trio_as_aio`` before it is implemented).  The runner (``run.py``)
starts one of these per measurement so implementations never share a process:
trio-asyncio in particular patches asyncio's module functions on import.

``--profile`` is for developers: it runs the same measurement under cProfile
(writes a ``.prof`` for ``pstats``/snakeviz) or pyinstrument (writes text).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads as W


class NotApplicable(Exception):
    pass


def run_main(impl: str, coro_fn: Callable[[], Any]) -> Any:
    """Run the asyncio coroutine function ``coro_fn`` with ``impl``'s run()."""
    if impl == "asyncio":
        return asyncio.run(coro_fn())
    if impl == "uvloop":
        import uvloop

        return uvloop.run(coro_fn())
    if impl == "trio_asyncio":
        import trio_asyncio

        # trio.run + ``async with open_loop()`` + aio_as_trio, in one call.
        return trio_asyncio.run(trio_asyncio.aio_as_trio(coro_fn))
    if impl == "trioloop":
        import trioloop

        # Hosted mode: trio.run + ``async with open_loop()`` around the task.
        return trioloop.run(coro_fn())
    if impl == "trioloop_sync":
        import trioloop

        with asyncio.Runner(loop_factory=trioloop.new_event_loop) as runner:
            return runner.run(coro_fn())
    raise NotApplicable(f"no such implementation here: {impl}")


# -- bridge workloads ----------------------------------------------------------------


def bridge_aio_as_trio(impl: str, s: W.Settings) -> dict:
    import trio

    async def noop() -> None:
        pass

    if impl == "trio":

        async def body(n: int) -> int:
            sleep = trio.sleep
            for _ in range(n):
                await sleep(0)
            return n

        return trio.run(W.measure, body, 10_000 if not s.quick else 1_000, s.budget)

    if impl == "trioloop":
        import trioloop as lib
    elif impl == "trio_asyncio":
        import trio_asyncio as lib  # type: ignore[no-redef]
    else:
        raise NotApplicable("no Trio side")
    f = lib.aio_as_trio(noop)

    async def body(n: int) -> int:
        for _ in range(n):
            await f()
        return n

    async def main() -> dict:
        async with lib.open_loop():
            return await W.measure(body, 2_000 if not s.quick else 200, s.budget)

    return trio.run(main)


def bridge_trio_as_aio(impl: str, s: W.Settings) -> dict:
    n = 2_000 if not s.quick else 200
    if impl == "asyncio":

        async def body0(n: int) -> int:
            for _ in range(n):
                await asyncio.sleep(0)
            return n

        return asyncio.run(W.measure(body0, n, s.budget))
    if impl == "trioloop":
        import trioloop as lib
    elif impl == "trio_asyncio":
        import trio_asyncio as lib  # type: ignore[no-redef]
    else:
        raise NotApplicable("no Trio side")
    if not hasattr(lib, "trio_as_aio"):
        raise NotApplicable(f"{lib.__name__}.trio_as_aio does not exist (yet)")

    async def tnoop() -> None:
        pass

    f = lib.trio_as_aio(tnoop)

    async def body(n: int) -> int:
        for _ in range(n):
            await f()
        return n

    return run_main(impl, lambda: W.measure(body, n, s.budget))


def startup(impl: str, s: W.Settings) -> dict:
    async def empty() -> None:
        pass

    run_main(impl, empty)  # warm-up: first-call costs, lazy imports
    count = 0
    start = time.perf_counter()
    while True:
        run_main(impl, empty)
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= s.budget or count >= 10_000:
            break
    return {
        "value": count / elapsed,
        "extra": {"runs": count, "us_per_run": round(elapsed / count * 1e6, 1)},
    }


def run_one(impl: str, name: str, s: W.Settings) -> dict:
    w = W.BY_NAME[name]
    if impl not in w.impls:
        raise NotApplicable(f"{name} does not run on {impl}")
    impl = _portable_as_trioloop(impl)
    if name == "bridge_aio_as_trio":
        return bridge_aio_as_trio(impl, s)
    if name == "bridge_trio_as_aio":
        return bridge_trio_as_aio(impl, s)
    if name == "startup":
        return startup(impl, s)
    return run_main(impl, lambda: W.run_loop_workload(w, s))


def _portable_as_trioloop(impl: str) -> str:
    """``trioloop_portable`` is hosted trioloop with the portable driver
    forced (one process per measurement, so the variable is this run's)."""
    if impl == "trioloop_portable":
        os.environ["TRIOLOOP_DRIVER"] = "portable"
        return "trioloop"
    return impl


def run_fixed(impl: str, name: str, n: int, yield_scale: float) -> dict:
    """One warm-up call and one call of a loop micro-benchmark's body with
    exactly ``n`` operations, no time budget: for instruction counting."""
    body = W.MICRO[name]
    impl = _portable_as_trioloop(impl)
    if impl.startswith("trioloop") and yield_scale != 1:
        # Under an instruction counter everything runs ~50x slower; stretch
        # the driver's time-based yield interval alike, so a batch spans as
        # many loop iterations as it does at full speed.
        from trioloop import _driver

        if hasattr(_driver, "YIELD_INTERVAL"):
            _driver.YIELD_INTERVAL *= yield_scale

    async def fixed() -> dict:
        await body(max(1, n // 10))
        return {"value": await body(n)}

    return run_main(impl, fixed)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("impl")
    p.add_argument("workload", choices=sorted(W.BY_NAME))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--profile", metavar="OUT")
    p.add_argument(
        "--profiler", choices=["cprofile", "pyinstrument"], default="cprofile"
    )
    p.add_argument(
        "--fixed", type=int, metavar="N", help="run a micro body once with N ops"
    )
    p.add_argument("--yield-scale", type=float, default=1.0)
    a = p.parse_args()
    s = W.Settings(quick=a.quick)
    if a.fixed:
        print(json.dumps(run_fixed(a.impl, a.workload, a.fixed, a.yield_scale)))
        return

    t0 = time.perf_counter()
    try:
        importlib.import_module(W.IMPL_MODULES[a.impl])
    except ImportError as e:
        print(json.dumps({"na": f"cannot import {W.IMPL_MODULES[a.impl]}: {e}"}))
        return
    import_seconds = time.perf_counter() - t0

    profiler: Any = None
    if a.profile and a.profiler == "cprofile":
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    elif a.profile:
        import pyinstrument

        profiler = pyinstrument.Profiler(interval=0.0002)
        profiler.start()
    try:
        result = run_one(a.impl, a.workload, s)
    except NotApplicable as e:
        print(json.dumps({"na": str(e)}))
        return
    finally:
        if profiler is not None and a.profiler == "cprofile":
            profiler.disable()
            profiler.dump_stats(a.profile)
        elif profiler is not None:
            profiler.stop()
            with open(a.profile, "w") as f:
                f.write(
                    profiler.output_text(unicode=False, color=False, show_all=False)
                )
    result["import_seconds"] = round(import_seconds, 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
