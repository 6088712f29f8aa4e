"""A forked child starts with a clean slate.

``os.fork()`` called from inside a running loop copies the parent's whole
state into the child: its running loop, ``sniffio``'s flavour, Trio's
per-thread run state and our async-generator hooks.  Neither asyncio before
3.12 nor Trio resets any of it, so ``trioloop.run()`` in the child would
refuse to start ("cannot be called inside trio.run").  The child's copy of
the parent's loop is unusable anyway (its epoll and self-pipe are shared with
the parent), so we forget it all, as asyncio 3.12+ does for its own part.
"""

from __future__ import annotations

import os
import signal
import sys
from asyncio import events

import sniffio

from . import _asyncgens
from ._trio_internals import run_context as trio_run_context


def _forget_parent_runs() -> None:
    events._set_running_loop(None)
    sniffio.thread_local.name = None
    for name in ("runner", "task"):
        if hasattr(trio_run_context, name):
            delattr(trio_run_context, name)
    _asyncgens.forget()
    sys.set_asyncgen_hooks(None, None)
    try:
        signal.set_wakeup_fd(-1)  # the parent's Trio wakeup socket
    except ValueError:  # not the main thread
        pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_runs)
