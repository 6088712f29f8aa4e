"""trio-asyncio 0.16's tests that do not pass on ``trioloop.compat``, by
pytest node id, each with the reason: all are deliberate differences of
trioloop, listed in docs/migrating.rst with what to write instead."""

_SHIELDED_CLEANUP = (
    "open_loop's exit is shielded, as asyncio.run's clean-up: an outer cancel "
    "does not cut async-generator finalizers short"
)
_CANCEL_WINS = (
    "an asyncio task cancelled while awaiting trio_as_aio gets CancelledError "
    "even if the (shielded) Trio side then returns normally"
)

EXPECTED_FAILURES: dict[str, str] = {
    "tests/aiotest/test_callback.py::TestCallback::test_close": (
        "a hosted loop closes when its open_loop block ends: loop.close() inside "
        "the block raises RuntimeError"
    ),
    "tests/interop/test_adapter.py::TestAdapt::test_asyncio_trio_adapted_no_call": (
        "aio_as_trio(f) of a function is a function: call it, "
        "'await aio_as_trio(f)()', to await it"
    ),
    "tests/test_concurrent.py::test_same_task": (
        "importing trioloop.compat installs no event loop policy "
        "(trioloop.install() does, and asyncio deprecates policies)"
    ),
    "tests/test_trio_asyncio.py::test_cancel_loop_with_tasks[False-True]": _CANCEL_WINS,
    "tests/test_trio_asyncio.py::test_cancel_loop_with_tasks[True-True]": _CANCEL_WINS,
    "tests/test_trio_asyncio.py::test_asyncgens[0-False-True]": _SHIELDED_CLEANUP,
    "tests/test_trio_asyncio.py::test_asyncgens[0-True-True]": _SHIELDED_CLEANUP,
    "tests/test_trio_asyncio.py::test_asyncgens[1-True-True]": _SHIELDED_CLEANUP,
}

#: Tests that pass or fail by the order in which Trio happens to run two
#: tasks (Trio shuffles them): expected failures that may pass.
RACES: dict[str, str] = {
    "tests/test_misc.py::test_wrong_context_manager_order": (
        "a Trio task outside the open_loop block calls into the loop as the block "
        "exits: its asyncio call is cancelled by the loop's shutdown (as "
        "asyncio.run's exit cancels tasks) unless Trio runs it first"
    ),
}
