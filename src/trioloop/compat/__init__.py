"""trio-asyncio's public API on trioloop: ``import trioloop.compat as
trio_asyncio`` is the whole migration for ordinary trio-asyncio code.

Everything here maps onto trioloop's own machinery (see
docs/migrating.rst for the differences, and for moving to trioloop's own
names over time).  Like trio-asyncio 0.16, reading ``TrioPolicy`` or
``TrioChildWatcher`` from this module warns that they are deprecated.
"""

from . import _deprecate
from ._adapter import (
    aio_as_trio,
    allow_asyncio,
    asyncio_as_trio,
    run_aio_future,
    run_aio_generator,
    trio_as_aio,
    trio_as_asyncio,
)
from ._deprecate import TrioAsyncioDeprecationWarning
from ._loop import TrioChildWatcher as _TrioChildWatcher
from ._loop import (
    TrioEventLoop,
    TrioExecutor,
    current_loop,
    open_loop,
    run,
    run_aio_coroutine,
    run_trio,
    run_trio_task,
)
from ._loop import TrioPolicy as _TrioPolicy

#: trio-asyncio's base class of its loops; trioloop has one loop class.
BaseTrioEventLoop = TrioEventLoop

__all__ = [
    "BaseTrioEventLoop",
    "TrioAsyncioDeprecationWarning",
    "TrioEventLoop",
    "TrioExecutor",
    "aio_as_trio",
    "allow_asyncio",
    "asyncio_as_trio",
    "current_loop",
    "open_loop",
    "run",
    "run_aio_coroutine",
    "run_aio_future",
    "run_aio_generator",
    "run_trio",
    "run_trio_task",
    "trio_as_aio",
    "trio_as_asyncio",
]

_deprecate.enable_attribute_deprecations(__name__)
__deprecated_attributes__ = {
    name: _deprecate.DeprecatedAttribute(value, "0.11.0", issue=64, instead=None)
    for name, value in (
        ("TrioPolicy", _TrioPolicy),
        ("TrioChildWatcher", _TrioChildWatcher),
    )
}
