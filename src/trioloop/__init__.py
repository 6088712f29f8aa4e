"""trioloop: an asyncio event loop hosted by Trio.

Inside ``trio.run``::

    async with trioloop.open_loop() as loop:
        result = await trioloop.aio_as_trio(some_asyncio_function)(arg)

From synchronous code: ``trioloop.run(main())``, or
``asyncio.run(main(), loop_factory=trioloop.new_event_loop)``.
"""

from . import _fork  # noqa: F401  (registers the at-fork reset)
from ._adapters import aio_as_trio, trio_as_aio
from ._bridge import current_loop
from ._executor import TrioExecutor
from ._hosted import open_loop
from ._loop import TrioEventLoop, new_event_loop
from ._policy import EventLoopPolicy, install
from ._runner import run
from ._version import __version__

__all__ = [
    "EventLoopPolicy",
    "TrioEventLoop",
    "TrioExecutor",
    "__version__",
    "aio_as_trio",
    "current_loop",
    "install",
    "new_event_loop",
    "open_loop",
    "run",
    "trio_as_aio",
]
