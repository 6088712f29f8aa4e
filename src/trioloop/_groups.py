"""Keep lone exceptions out of the exception groups our nurseries make.

The driver lives in a nursery (hosted: the ``open_loop`` block's; sync: the
one of each ``run_forever``), and Trio nurseries wrap whatever escapes them
in an ``ExceptionGroup``.  Users of ``open_loop`` and ``run_until_complete``
did not open a nursery and expect asyncio's behaviour: the exception itself.
So a group holding exactly one exception is unwrapped; several stay a group.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["unwrap_lone_exception"]


@contextmanager
def unwrap_lone_exception() -> Iterator[None]:
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        lone = group.exceptions[0]
        cause, context, suppress = (
            lone.__cause__,
            lone.__context__,
            lone.__suppress_context__,
        )
        try:
            raise lone
        finally:
            # As it was raised inside the nursery, not "during handling" of
            # the group we are dropping.
            lone.__cause__, lone.__context__ = cause, context
            lone.__suppress_context__ = suppress
            del lone
