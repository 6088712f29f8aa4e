"""Every private part of Trio that trioloop reads or writes, in one place.

Trio's run state is private and moves between releases (its instruments
became a ``UserDict`` in 0.30, for one).  Nothing else in trioloop touches a
private Trio name: it asks this module, and each accessor answers ``None``
(or the neutral value its docstring gives) when a name is missing or not of
the expected type.  The callers then take the slower path or do without:

==============================  ==========================================
private name                    used for / when it moves
==============================  ==========================================
``trio._core._run``             the module holding the names below; if it
                                moves, everything here answers ``None``
``GLOBAL_RUN_CONTEXT``          the flavour guard (``_flavour``, the
                                driver): ``.task`` is swapped for a
                                stand-in while asyncio code runs; missing
                                -> no guard (mistaken Trio calls in asyncio
                                code then get Trio's own errors, or corrupt
                                the host task).  ``_fork`` deletes
                                ``.runner``/``.task`` in a forked child;
                                missing -> nothing to delete
``GLOBAL_RUN_CONTEXT.runner``   the idle blocker (``_idle``); missing ->
                                the driver always parks in Trio
``runner.runq``,                the blocker's "only runnable task" test;
``.waiting_for_idle``,          any missing -> blocker off
``.deadlines._heap``,
``.deadlines.next_deadline``
``runner.instruments``          the blocker's check that no other
(``.data`` from 0.30)           instrument watches I/O waits; neither a
                                dict nor a ``UserDict`` -> blocker off
``runner.clock``,               the blocker only runs on Trio's default
``SystemClock``                 clock; missing -> blocker off
``runner.is_guest``             no blocking in guest mode; missing ->
                                blocker off
``runner.io_manager._epoll``    the epoll fd the blocker waits on with the
                                selector's; missing -> blocker off
``TheIOManager``                which I/O manager Trio chose at import,
                                for the choice of driver (``_driver``);
                                missing -> taken as epoll on Linux only
``Task._ki_protected``          the guard answers Trio's Ctrl+C handler
                                for the task hosting asyncio code; missing
                                -> treated as unprotected
``trio._socket._resolver``      a custom hostname resolver answers asyncio
                                code too; missing -> asyncio's resolver
==============================  ==========================================

``trio.lowlevel.Task.context`` is public, but setting it is not documented:
the ``trio_as_aio`` workers (``_bridge``) set it to reuse a task for the
next call; if Trio refuses, a worker is not reused (a new task per call).

``tests/test_trio_internals.py`` checks that each of these is found with
the Trio the tests run against, so a Trio release that moves one fails a
test instead of quietly losing a fast path.
"""

from __future__ import annotations

import select
import sys
from typing import Any

__all__ = [
    "custom_resolver",
    "idle_blocker_parts",
    "io_manager_is_epoll",
    "run_context",
]

_trio_run: Any
try:
    from trio._core import _run as _trio_run
except ImportError:  # pragma: no cover - depends on the Trio version
    _trio_run = None

#: Trio's per-thread run state (``.runner``, ``.task`` inside a run), or None.
run_context: Any = getattr(_trio_run, "GLOBAL_RUN_CONTEXT", None)

_RUNNER_FIELDS = (
    "runq",
    "deadlines",
    "waiting_for_idle",
    "instruments",
    "clock",
    "is_guest",
)


def idle_blocker_parts() -> tuple[Any, dict[str, Any], select.epoll] | str:
    """What the idle blocker needs from the current Trio run: the runner,
    the dict of instruments by hook name, and Trio's epoll object; or, where
    it cannot have them, a short reason why not."""
    runner = getattr(run_context, "runner", None)
    if runner is None or not all(hasattr(runner, f) for f in _RUNNER_FIELDS):
        return "this Trio's run state is not the one trioloop knows"
    if runner.is_guest:
        return "Trio runs in guest mode (the host loop blocks, not this thread)"
    if type(runner.clock) is not getattr(_trio_run, "SystemClock", None):
        return "the Trio run has a custom clock (such as MockClock)"
    instruments = runner.instruments
    hooks = getattr(instruments, "data", instruments)  # 0.30+: a UserDict
    if not isinstance(hooks, dict):
        return "this Trio's instruments are not the ones trioloop knows"
    deadlines = runner.deadlines
    if not isinstance(getattr(deadlines, "_heap", None), list) or not hasattr(
        deadlines, "next_deadline"
    ):
        return "this Trio's deadlines are not the ones trioloop knows"
    trio_epoll: Any = getattr(getattr(runner, "io_manager", None), "_epoll", None)
    if not hasattr(select, "epoll") or not isinstance(trio_epoll, select.epoll):
        return "Trio's I/O manager is not epoll"
    return runner, hooks, trio_epoll


def io_manager_is_epoll() -> bool:
    """Whether Trio's I/O manager is its epoll one (chosen when Trio was
    imported: on Linux; kqueue on macOS and the BSDs, IOCP on Windows)."""
    manager = getattr(_trio_run, "TheIOManager", None)
    if manager is None:  # pragma: no cover - depends on the Trio version
        return sys.platform.startswith("linux")
    return getattr(manager, "__name__", None) == "EpollIOManager"


def ki_protected(task: Any) -> bool:
    """Whether Trio task ``task`` is protected from Ctrl+C."""
    return bool(getattr(task, "_ki_protected", False))


def custom_resolver() -> Any:
    """The current Trio run's custom hostname resolver, or None."""
    import trio

    resolver_var = getattr(getattr(trio, "_socket", None), "_resolver", None)
    if resolver_var is None or not trio.lowlevel.in_trio_run():
        return None
    return resolver_var.get(None)
