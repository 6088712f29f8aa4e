"""Imitate a platform without epoll (macOS, Windows, the BSDs) on Linux, for
everything but Trio's own I/O manager.

Python imports this module at start-up when its directory is on
``PYTHONPATH``; it does its work only when ``TRIOLOOP_TEST_NO_EPOLL=1``
(``scripts/test-portable.sh`` sets both, and so does the child process of
``tests/test_drivers.py``).  Child processes inherit both variables, so they
run the same way.

Trio is imported first, so it picks and keeps its epoll I/O manager (it
chooses at import, from the real ``select``).  Then ``select`` is replaced,
for everything imported afterwards, by a copy without ``epoll`` and the
``EPOLL*`` constants, and ``selectors`` is imported again from it (Trio's
own imports have loaded it already), so asyncio, trioloop and every other
later import see ``DefaultSelector`` as ``PollSelector`` and no epoll at all.
``tests/conftest.py`` checks at the start of the session that this took.

It replaces any other ``sitecustomize`` on the path (pyenv's Pythons have
none).
"""

from __future__ import annotations

import os
import sys
import types

__all__: list[str] = []


def _hide_epoll() -> None:
    import trio  # noqa: F401  (first: Trio keeps the real select's epoll)

    if "asyncio" in sys.modules:  # pragma: no cover - a start-up import order bug
        raise RuntimeError("asyncio was imported before epoll could be hidden")
    real = sys.modules["select"]
    without_epoll = types.ModuleType("select", real.__doc__)
    without_epoll.__dict__.update(
        (name, value)
        for name, value in vars(real).items()
        if not name.lower().startswith("epoll")
    )
    sys.modules["select"] = without_epoll
    sys.modules.pop("selectors", None)
    import selectors

    if selectors.DefaultSelector is not selectors.PollSelector:  # pragma: no cover
        raise RuntimeError(
            f"hiding epoll left DefaultSelector {selectors.DefaultSelector.__name__}"
        )


if os.environ.get("TRIOLOOP_TEST_NO_EPOLL") == "1":
    _hide_epoll()
