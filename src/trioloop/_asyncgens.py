"""Async-generator hooks shared by asyncio-on-Trio and Trio itself.

Python has one pair of async-generator hooks per thread.  Trio installs its
own for the whole of ``trio.run``; an asyncio loop wants its own while it
runs.  Both flavours of generator live in the same thread here, so we install
one multiplexing pair: a generator first iterated while asyncio code of a
:class:`~trioloop.TrioEventLoop` runs belongs to that loop (its finalizer
schedules ``aclose()`` there and ``shutdown_asyncgens`` sees it); any other
generator goes to the hooks that were installed before ours (Trio's).

The finalizer cannot use weak references to find the owner: CPython clears
a generator's weak references before calling its finalizer.  So owners are
kept by ``id()``; every first iteration overwrites its id's entry, so an id
reused by a new generator never reaches a dead generator's owner, and entries
of generators that finished without finalization are pruned as the table
grows.
"""

from __future__ import annotations

import sys
import threading
import weakref
from asyncio import events
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

import sniffio

if TYPE_CHECKING:
    from ._loop import TrioEventLoop

_Agen = AsyncGenerator[Any, Any]
_Finalizer = Callable[[_Agen], object]


class _ThreadHooks(threading.local):
    def __init__(self) -> None:
        self.users = 0
        self.previous: Any = None


_state = _ThreadHooks()
_lock = threading.Lock()
# id(agen) -> (weak reference to agen, finalizer to call for it)
_owners: dict[int, tuple[weakref.ref[_Agen], _Finalizer | None]] = {}
_prune_at = 1024


def _owning_loop() -> TrioEventLoop | None:
    from ._loop import TrioEventLoop

    loop = events._get_running_loop()
    if isinstance(loop, TrioEventLoop) and sniffio.thread_local.name == "asyncio":
        return loop
    return None


def _firstiter(agen: _Agen) -> None:
    global _prune_at
    loop = _owning_loop()
    finalizer: _Finalizer | None
    if loop is not None:
        loop._asyncgen_firstiter_hook(agen)
        finalizer = loop._asyncgen_finalizer_hook
    else:
        previous = _state.previous
        if previous is not None and previous.firstiter is not None:
            previous.firstiter(agen)
        finalizer = previous.finalizer if previous is not None else None
    with _lock:
        _owners[id(agen)] = (weakref.ref(agen), finalizer)
        if len(_owners) > _prune_at:
            for key in [k for k, (ref, _) in _owners.items() if ref() is None]:
                del _owners[key]
            _prune_at = max(1024, 2 * len(_owners))


def _finalizer(agen: _Agen) -> None:
    with _lock:
        entry = _owners.pop(id(agen), None)
    if entry is not None and entry[1] is not None:
        entry[1](agen)


def install() -> None:
    """Start multiplexing this thread's hooks (nests; pair with uninstall)."""
    if _state.users == 0:
        _state.previous = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=_firstiter, finalizer=_finalizer)
    _state.users += 1


def forget() -> None:
    """Drop this thread's state without restoring hooks (after a fork)."""
    _state.users = 0
    _state.previous = None


def uninstall() -> None:
    _state.users -= 1
    if _state.users == 0:
        previous, _state.previous = _state.previous, None
        sys.set_asyncgen_hooks(*previous)
