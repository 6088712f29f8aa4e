"""The bridge: Trio awaiting asyncio (aio_as_trio) and back (trio_as_aio)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import threading
import traceback
import weakref

import pytest
import sniffio
import trio

import trioloop
from trioloop import aio_as_trio, trio_as_aio

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default="-"
)


def run_hosted(trio_fn):
    """Run Trio function ``trio_fn(loop)`` inside ``open_loop`` in a fresh trio.run."""

    async def main():
        async with trioloop.open_loop() as loop:
            return await trio_fn(loop)

    return trio.run(main)


# -- values in every shape ------------------------------------------------------


def test_aio_as_trio_adapts_every_shape():
    async def double(x):
        await asyncio.sleep(0)
        return 2 * x

    async def count(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    class Resource:
        entered = exited = False

        async def __aenter__(self):
            await asyncio.sleep(0)
            self.entered = True
            return self

        async def __aexit__(self, *exc):
            await asyncio.sleep(0)
            self.exited = True

    @aio_as_trio
    async def decorated(x):
        await asyncio.sleep(0)
        return x + 1

    async def body(loop):
        results = [
            await aio_as_trio(double)(4),
            await aio_as_trio(double(5)),
            await decorated(1),
        ]
        fut = loop.create_future()
        loop.call_later(0.001, fut.set_result, "future")
        results.append(await aio_as_trio(fut))
        results.append([i async for i in aio_as_trio(count(3))])
        results.append([i async for i in aio_as_trio(count)(2)])
        resource = Resource()
        async with aio_as_trio(resource) as entered:
            assert entered is resource and resource.entered and not resource.exited
        assert resource.exited
        return results

    assert run_hosted(body) == [8, 10, 2, "future", [0, 1, 2], [0, 1]]


def test_trio_as_aio_adapts_functions_and_iterators():
    async def trio_double(x):
        await trio.sleep(0)
        return 2 * x

    async def trio_count(n):
        for i in range(n):
            await trio.sleep(0)
            yield i

    @trio_as_aio
    async def decorated(x):
        await trio.sleep(0)
        return x - 1

    async def aio_main():
        return [
            await trio_as_aio(trio_double)(21),
            await decorated(1),
            [i async for i in trio_as_aio(trio_count)(3)],
            [i async for i in trio_as_aio(trio_count(2))],
        ]

    assert trioloop.run(aio_main()) == [42, 0, [0, 1, 2], [0, 1]]


def test_trio_as_aio_works_in_sync_mode_loops():
    async def trio_side():
        await trio.sleep(0.001)
        return sniffio.current_async_library()

    async def aio_main():
        return await trio_as_aio(trio_side)()

    loop = trioloop.new_event_loop()
    try:
        assert loop.run_until_complete(aio_main()) == "trio"
    finally:
        loop.close()


# -- cancellation ------------------------------------------------------------------


def test_trio_cancel_reaches_asyncio_side_which_may_clean_up():
    events = []

    async def aio_side():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            events.append("aio saw CancelledError")
            await asyncio.sleep(0.01)  # cleanup may await
            events.append("aio cleanup done")
            raise

    async def body(loop):
        with trio.move_on_after(0.05) as scope:
            try:
                await aio_as_trio(aio_side)()
            except trio.Cancelled:
                events.append("trio saw Cancelled")
                raise
        assert scope.cancelled_caught
        assert not [t for t in asyncio.all_tasks(loop) if not t.done()]

    run_hosted(body)
    assert events == [
        "aio saw CancelledError",
        "aio cleanup done",
        "trio saw Cancelled",
    ]


def test_already_cancelled_trio_scope_does_not_start_asyncio_side():
    started = []

    async def aio_side():
        started.append(True)

    async def body(loop):
        with trio.CancelScope() as scope:
            scope.cancel()
            await aio_as_trio(aio_side)()
        assert scope.cancelled_caught

    run_hosted(body)
    assert started == []


def test_asyncio_cancel_reaches_trio_side_which_may_clean_up():
    events = []

    async def trio_side():
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            events.append("trio saw Cancelled")
            with trio.CancelScope(shield=True):
                await trio.sleep(0.01)
            events.append("trio cleanup done")
            raise

    async def aio_main():
        task = asyncio.ensure_future(trio_as_aio(trio_side)())
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        events.append("aio saw CancelledError")

    trioloop.run(aio_main())
    assert events == [
        "trio saw Cancelled",
        "trio cleanup done",
        "aio saw CancelledError",
    ]


def test_asyncio_timeout_around_trio_side():
    async def trio_side():
        await trio.sleep(3600)

    async def aio_main():
        with pytest.raises(
            TimeoutError if sys.version_info >= (3, 11) else asyncio.TimeoutError
        ):
            await asyncio.wait_for(trio_as_aio(trio_side)(), 0.02)
        return "done"

    assert trioloop.run(aio_main()) == "done"


def test_shielded_trio_scope_lets_asyncio_side_finish():
    async def aio_side():
        await asyncio.sleep(0.02)
        return "finished"

    async def body(loop):
        with trio.CancelScope() as outer:
            with trio.CancelScope(shield=True):
                outer.cancel()
                return await aio_as_trio(aio_side)()

    assert run_hosted(body) == "finished"


# -- exceptions --------------------------------------------------------------------


def test_exceptions_cross_both_ways_with_both_halves_of_the_traceback():
    async def aio_fails():
        await asyncio.sleep(0)
        raise ValueError("from asyncio")

    async def trio_fails():
        await trio.sleep(0)
        raise KeyError("from trio")

    async def aio_calls_trio():
        await trio_as_aio(trio_fails)()

    async def body(loop):
        with pytest.raises(ValueError, match="from asyncio") as info:
            await aio_as_trio(aio_fails)()
        names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
        assert "aio_fails" in names and "body" in names
        with pytest.raises(KeyError) as info:
            await aio_as_trio(aio_calls_trio)()
        names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
        assert "trio_fails" in names and "aio_calls_trio" in names and "body" in names

    run_hosted(body)


def test_exception_groups_stay_groups():
    async def aio_group():
        raise ExceptionGroup("several", [ValueError(1), TypeError(2)])

    async def body(loop):
        with pytest.raises(ExceptionGroup) as info:
            await aio_as_trio(aio_group)()
        assert [type(e) for e in info.value.exceptions] == [ValueError, TypeError]

    run_hosted(body)


def test_keyboard_interrupt_in_asyncio_task_propagates_out_of_trio_run():
    async def aio_side():
        await asyncio.sleep(0)
        raise KeyboardInterrupt

    async def main():
        async with trioloop.open_loop() as loop:
            loop.create_task(aio_side())
            await trio.sleep(10)

    with pytest.raises(KeyboardInterrupt):
        trio.run(main)


def test_callback_exception_goes_to_handler_and_trio_goes_on():
    seen = []

    async def body(loop):
        loop.set_exception_handler(
            lambda loop, context: seen.append(context["exception"])
        )
        loop.call_later(0.001, lambda: 1 / 0)
        await trio.sleep(0.05)
        return "still running"

    assert run_hosted(body) == "still running"
    assert [type(e) for e in seen] == [ZeroDivisionError]


# -- context -----------------------------------------------------------------------


def test_contextvars_cross_both_ways():
    async def aio_reads():
        return request_id.get()

    async def trio_reads():
        return request_id.get()

    async def aio_sets_then_calls_trio():
        request_id.set("set in asyncio")
        return await trio_as_aio(trio_reads)()

    async def body(loop):
        request_id.set("set in trio")
        return await aio_as_trio(aio_reads)(), await aio_as_trio(
            aio_sets_then_calls_trio
        )()

    assert run_hosted(body) == ("set in trio", "set in asyncio")


def test_reused_trio_side_tasks_keep_each_call_to_its_own_context():
    # The Trio side of trio_as_aio runs in reused tasks: what one call sets
    # must not be seen by the next, and each sees its own caller's values.
    async def trio_sets(value):
        seen = request_id.get()
        request_id.set(value)
        await trio.sleep(0)
        return seen, request_id.get()

    async def aio_caller(name):
        request_id.set(name)
        return await trio_as_aio(trio_sets)(f"set by {name}'s Trio side")

    async def aio_main():
        first = await aio_caller("first")
        second = await aio_caller("second")
        both = await asyncio.gather(aio_caller("a"), aio_caller("b"))
        return first, second, both, request_id.get()

    first, second, both, after = trioloop.run(aio_main())
    assert first == ("first", "set by first's Trio side")
    assert second == ("second", "set by second's Trio side")
    assert both == [("a", "set by a's Trio side"), ("b", "set by b's Trio side")]
    assert after == "second"  # the Trio side's set stays on the Trio side


def test_reused_trio_side_task_keeps_nothing_of_the_last_call():
    # What a call's Trio side stored in its context must be freed when the
    # call is over, not held by the task waiting to be reused.
    class Payload:
        pass

    refs = []

    async def trio_side():
        payload = Payload()
        refs.append(weakref.ref(payload))
        request_id.set(payload)

    async def aio_main():
        await trio_as_aio(trio_side)()
        gc.collect()
        return refs[0]() is None

    assert trioloop.run(aio_main())


def test_calls_after_a_cancelled_trio_side_run_and_can_be_cancelled():
    # A cancelled call ends the cancel scope its reused task ran it in; the
    # calls after it must neither inherit that cancel nor lose their own.
    async def trio_side(seconds):
        await trio.sleep(seconds)
        return seconds

    async def aio_main():
        results = []
        for _ in range(3):
            with pytest.raises(
                TimeoutError if sys.version_info >= (3, 11) else asyncio.TimeoutError
            ):
                await asyncio.wait_for(trio_as_aio(trio_side)(3600), 0.01)
            results.append(await trio_as_aio(trio_side)(0))
        # Cancelled before its Trio side took a step: it never completes.
        task = asyncio.ensure_future(trio_as_aio(trio_side)(3600))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Calls running side by side do not wait for each other: all twenty
        # are inside their Trio side at once (in sequence, the most would be 1).
        inside = [0, 0]  # now, most at once

        async def counted():
            inside[0] += 1
            inside[1] = max(inside)
            await trio.sleep(0.05)
            inside[0] -= 1
            return "counted"

        results.extend(
            await asyncio.gather(*(trio_as_aio(counted)() for _ in range(20)))
        )
        return results, inside[1]

    results, most_at_once = trioloop.run(aio_main())
    assert results == [0, 0, 0] + ["counted"] * 20
    assert most_at_once == 20


def test_sniffio_and_current_task_at_every_depth():
    seen = []

    async def aio_level(depth):
        seen.append(
            (depth, sniffio.current_async_library(), asyncio.current_task() is not None)
        )
        assert asyncio.current_task() in asyncio.all_tasks()
        if depth < 5:
            await trio_as_aio(trio_level)(depth + 1)

    async def trio_level(depth):
        seen.append((depth, sniffio.current_async_library(), None))
        if depth < 5:
            await aio_as_trio(aio_level)(depth + 1)

    async def body(loop):
        await trio_level(0)

    run_hosted(body)
    assert seen == [
        (0, "trio", None),
        (1, "asyncio", True),
        (2, "trio", None),
        (3, "asyncio", True),
        (4, "trio", None),
        (5, "asyncio", True),
    ]


def test_cancellation_crosses_five_levels_and_every_finally_runs_once():
    finallies = []

    async def aio_level(depth):
        try:
            if depth == 5:
                await asyncio.sleep(3600)
            else:
                await trio_as_aio(trio_level)(depth + 1)
        finally:
            finallies.append(depth)

    async def trio_level(depth):
        try:
            await aio_as_trio(aio_level)(depth + 1)
        finally:
            finallies.append(depth)

    async def body(loop):
        with trio.move_on_after(0.05) as scope:
            await trio_level(0)
        assert scope.cancelled_caught

    run_hosted(body)
    assert finallies == [5, 4, 3, 2, 1, 0]


# -- asyncio semantics inside bridged calls ------------------------------------------


def test_asyncio_structures_work_inside_aio_as_trio():
    async def aio_side():
        task = asyncio.current_task()
        assert task is not None and task in asyncio.all_tasks()
        shielded = await asyncio.shield(asyncio.sleep(0, "shielded"))
        try:
            await asyncio.wait_for(asyncio.sleep(3600), 0.01)
        except asyncio.TimeoutError:
            timed_out = True
        results = [shielded, timed_out]
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(0.01):
                await asyncio.sleep(0)
            try:
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(3600)
            except TimeoutError:
                results.append("timeout")
            async with asyncio.TaskGroup() as group:
                a = group.create_task(asyncio.sleep(0, "a"))
                b = group.create_task(asyncio.sleep(0, "b"))
            results.append(a.result() + b.result())
            assert task.cancelling() == 0
        return results

    expected = ["shielded", True] + (
        ["timeout", "ab"] if sys.version_info >= (3, 11) else []
    )
    assert run_hosted(lambda loop: aio_as_trio(aio_side)()) == expected


# -- clear errors --------------------------------------------------------------------


def test_adapter_without_open_loop_says_to_open_one():
    async def aio_side():
        pass

    async def main():
        with pytest.raises(RuntimeError, match="open_loop"):
            await aio_as_trio(aio_side)()

    trio.run(main)


def test_trio_function_awaited_from_asyncio_names_the_adapter(run):
    async def aio_main():
        with pytest.raises(RuntimeError, match="trio_as_aio"):
            await trio.sleep(0.001)
        with pytest.raises(RuntimeError, match="trio_as_aio"):
            await trio.Event().wait()
        await asyncio.sleep(0)
        return "loop still fine"

    async def main():
        async with trioloop.open_loop():
            return await aio_as_trio(aio_main)()

    assert trio.run(main) == "loop still fine"


def test_asyncio_awaited_from_trio_names_the_adapter():
    """Futures the loop makes for Trio code (what asyncio.sleep, Event,
    Queue and Lock wait on) say to use aio_as_trio when Trio code awaits
    them, and stay ordinary futures for asyncio code and the bridge."""

    async def trio_main(loop):
        with pytest.raises(RuntimeError, match=r"trioloop\.aio_as_trio"):
            await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match=r"trioloop\.aio_as_trio"):
            await asyncio.Event().wait()
        with pytest.raises(RuntimeError, match=r"trioloop\.aio_as_trio"):
            await asyncio.Queue().get()
        with pytest.raises(RuntimeError, match=r"trioloop\.aio_as_trio"):
            await loop.create_future()
        # Made by Trio code, awaited by asyncio code or through the bridge.
        fut = loop.create_future()
        loop.call_soon(fut.set_result, "set")
        direct = loop.create_future()
        loop.call_soon(direct.set_result, "bridged")
        return [
            await aio_as_trio(asyncio.wait_for)(fut, 10),
            await aio_as_trio(direct),
        ]

    assert run_hosted(trio_main) == ["set", "bridged"]


@pytest.mark.parametrize("flavour", ["trioloop", "trioloop-hosted"])
def test_asyncio_awaited_from_the_trio_side_names_the_adapter(run, flavour):
    async def trio_side():
        with pytest.raises(RuntimeError, match=r"trioloop\.aio_as_trio"):
            await asyncio.sleep(0.01)
        return "refused"

    async def aio_main():
        return await trio_as_aio(trio_side)()

    assert run(aio_main()) == "refused"


def test_a_bare_yield_from_trio_code_gets_trios_own_error():
    """What trioloop cannot see: asyncio.sleep(0) yields None, which only
    Trio's scheduler sees (documented in docs/semantics.rst)."""

    async def trio_main(loop):
        with pytest.raises(TypeError, match="unrecognized yield message None"):
            await asyncio.sleep(0)
        return "trio's error"

    assert run_hosted(trio_main) == "trio's error"


class OtherThreadsTrioRun:
    """A Trio run in a thread of its own, until ``stop()``."""

    def __init__(self) -> None:
        self.token = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._main,))
        self._thread.start()
        assert self._ready.wait(10)

    async def _main(self) -> None:
        self._done = trio.Event()
        self.token = trio.lowlevel.current_trio_token()
        self._ready.set()
        await self._done.wait()

    def stop(self) -> None:
        # From a thread of ours: refused from some of the callers' threads.
        stopper = threading.Thread(
            target=trio.from_thread.run_sync,
            args=(self._done.set,),
            kwargs={"trio_token": self.token},
        )
        stopper.start()
        stopper.join(10)
        self._thread.join(10)
        assert not self._thread.is_alive()


def test_blocking_call_into_another_threads_trio_run(run, flavour):
    """asyncio code may block on another thread's Trio run, as on stock
    asyncio, in sync mode; hosted, the thread is a Trio run's own and Trio
    refuses the call as it would from Trio code (docs/semantics.rst)."""

    async def aio_main():
        other = OtherThreadsTrioRun()
        try:
            # From a worker thread: works in every mode (what the docs advise).
            in_worker = await asyncio.to_thread(
                trio.from_thread.run_sync, lambda: 41, trio_token=other.token
            )
            try:
                return in_worker, trio.from_thread.run_sync(
                    lambda: 42, trio_token=other.token
                )
            except RuntimeError as exc:
                return in_worker, str(exc)
        finally:
            other.stop()

    expected = {
        "asyncio": (41, 42),
        "trioloop": (41, 42),
        "trioloop-hosted": (41, "this is a blocking function; call it from a thread"),
    }
    assert run(aio_main()) == expected[flavour]


def test_trio_function_awaited_from_asyncio_code_fails_as_on_stock(run, flavour):
    """Sync mode shows asyncio code no Trio task, so Trio's own error, as on
    stock asyncio; hosted, the guard's error names the adapter.  Either way
    the loop goes on."""

    async def aio_main():
        errors = []
        for mistake in (lambda: trio.sleep(0.001), lambda: trio.Event().wait()):
            with pytest.raises(RuntimeError) as caught:
                await mistake()
            errors.append(str(caught.value))
        await asyncio.sleep(0.001)
        return errors, trio.lowlevel.in_trio_task()

    errors, in_trio_task = run(aio_main())
    if flavour == "trioloop-hosted":
        assert all("trioloop.trio_as_aio" in error for error in errors), errors
        assert in_trio_task  # the guard
    else:
        assert errors == ["must be called from async context"] * 2
        assert not in_trio_task


def test_trio_as_aio_on_a_stock_loop_says_what_to_use():
    async def trio_side():
        pass

    async def aio_main():
        with pytest.raises(RuntimeError, match="trioloop"):
            await trio_as_aio(trio_side)()

    asyncio.run(aio_main())


# -- context managers: entered and exited in one task ---------------------------------


class TaskRecordingManager:
    """An asyncio async context manager that records the task of each step."""

    def __init__(self):
        self.tasks = []

    async def __aenter__(self):
        await asyncio.sleep(0)
        self.tasks.append(asyncio.current_task())
        return self

    async def __aexit__(self, *exc_info):
        await asyncio.sleep(0)
        self.tasks.append(asyncio.current_task())
        self.exc_type = exc_info[0]


def test_asyncio_context_manager_enters_and_exits_in_one_task():
    manager = TaskRecordingManager()

    async def body(loop):
        async with aio_as_trio(manager):
            await trio.sleep(0.001)
        with pytest.raises(ValueError):
            async with aio_as_trio(manager):
                raise ValueError

    run_hosted(body)
    assert len(manager.tasks) == 4
    assert manager.tasks[0] is manager.tasks[1] and manager.tasks[2] is manager.tasks[3]
    assert manager.exc_type is ValueError


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
def test_asyncio_timeout_used_from_trio_cancels_the_trio_block():
    reached = []

    async def body(loop):
        with pytest.raises(TimeoutError):
            async with aio_as_trio(asyncio.timeout(0.02)):
                await trio.sleep(3600)
                reached.append("not cancelled")
        async with aio_as_trio(asyncio.timeout(10)):
            await trio.sleep(0.001)
        return "went on"

    assert run_hosted(body) == "went on"
    assert reached == []


def test_trio_cancel_inside_asyncio_context_manager_block():
    manager = TaskRecordingManager()

    async def body(loop):
        with trio.move_on_after(0.01) as scope:
            async with aio_as_trio(manager):
                await trio.sleep(3600)
        assert scope.cancelled_caught

    run_hosted(body)
    assert manager.tasks[0] is manager.tasks[1]
    assert manager.exc_type is trio.Cancelled


def test_trio_nursery_used_from_asyncio():
    async def trio_child(results, i):
        await trio.sleep(0.001 * i)
        results.append(i)

    async def aio_main():
        results = []
        async with trio_as_aio(trio.open_nursery()) as nursery:
            for i in range(3):
                nursery.start_soon(trio_child, results, i)
            await asyncio.sleep(0)
        return sorted(results)

    assert trioloop.run(aio_main()) == [0, 1, 2]


def test_failing_trio_nursery_child_cancels_the_asyncio_block():
    events = []

    async def trio_child_fails():
        await trio.sleep(0.01)
        raise ValueError("child failed")

    async def aio_main():
        with pytest.raises(ExceptionGroup) as info:
            async with trio_as_aio(trio.open_nursery()) as nursery:
                nursery.start_soon(trio_child_fails)
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    events.append("asyncio block cancelled")
                    raise
        assert [str(e) for e in info.value.exceptions] == ["child failed"]
        if sys.version_info >= (3, 11):
            assert asyncio.current_task().cancelling() == 0
        return "asyncio went on"

    assert trioloop.run(aio_main()) == "asyncio went on"
    assert events == ["asyncio block cancelled"]


def test_trio_cancel_scope_used_from_asyncio():
    async def aio_main():
        async with trio_as_aio(trio_cancel_scope_manager(60)) as scope:
            await asyncio.sleep(0.001)
        not_expired = scope.cancelled_caught
        async with trio_as_aio(trio_cancel_scope_manager(0.01)) as scope:
            await asyncio.sleep(3600)  # the Trio deadline cancels this block
        return not_expired, scope.cancelled_caught

    assert trioloop.run(aio_main()) == (False, True)


from contextlib import asynccontextmanager  # noqa: E402


@asynccontextmanager
async def trio_cancel_scope_manager(seconds):
    with trio.move_on_after(seconds) as scope:
        yield scope


# -- strict mode ----------------------------------------------------------------------


def run_strict(trio_fn):
    async def main():
        async with trioloop.open_loop(strict=True) as loop:
            return await trio_fn(loop)

    return trio.run(main)


def test_strict_unwatched_failure_fails_the_block_at_once():
    reached = []

    async def fails():
        await asyncio.sleep(0.001)
        raise ValueError("orphan")

    async def body(loop):
        loop.create_task(fails())
        await trio.sleep(3600)
        reached.append("not cancelled")

    with pytest.raises(ValueError, match="orphan"):
        run_strict(body)
    assert reached == []


def test_strict_awaited_failure_is_the_awaiters_business():
    async def fails():
        await asyncio.sleep(0)
        raise ValueError("handled")

    async def parent():
        try:
            await asyncio.create_task(fails())
        except ValueError:
            return "handled by parent"

    async def body(loop):
        return await aio_as_trio(parent)()

    assert run_strict(body) == "handled by parent"


def test_strict_watched_but_never_retrieved_failure_fails_at_exit():
    async def fails():
        raise KeyError("watched, never retrieved")

    async def body(loop):
        task = loop.create_task(fails())
        task.add_done_callback(lambda t: None)
        await trio.sleep(0.01)
        return "block ended"

    with pytest.raises(KeyError, match="never retrieved"):
        run_strict(body)


def test_strict_normal_exit_waits_for_tasks_instead_of_cancelling():
    finished = []

    async def slow():
        await asyncio.sleep(0.02)
        finished.append("slow task finished")

    async def body(loop):
        loop.create_task(slow())

    run_strict(body)
    assert finished == ["slow task finished"]


def test_strict_exit_by_exception_cancels_tasks():
    cancelled = []

    async def forever():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def body(loop):
        loop.create_task(forever())
        await trio.sleep(0.001)
        raise RuntimeError("block failed")

    with pytest.raises(RuntimeError, match="block failed"):
        run_strict(body)
    assert cancelled == [True]


def test_non_strict_unwatched_failure_is_only_logged():
    reported = []

    async def fails():
        raise ValueError("logged only")

    async def main():
        async with trioloop.open_loop() as loop:
            loop.set_exception_handler(lambda loop, context: reported.append(context))
            loop.create_task(fails())
            await trio.sleep(0.01)
        return "went on"

    assert trio.run(main) == "went on"
    assert [type(c["exception"]) for c in reported] == [ValueError]


def test_clean_exit_of_asyncio_context_manager_is_not_a_cancellation():
    manager = TaskRecordingManager()

    async def body(loop):
        async with aio_as_trio(manager):
            pass

    run_hosted(body)
    assert manager.exc_type is None


def test_exception_raised_by_cleanup_replaces_the_cancellation_both_ways():
    async def aio_cleanup_fails():
        try:
            await asyncio.sleep(3600)
        finally:
            raise ValueError("asyncio clean-up failed")

    async def trio_cleanup_fails():
        try:
            await trio.sleep_forever()
        finally:
            raise KeyError("trio clean-up failed")

    async def aio_main():
        task = asyncio.ensure_future(trio_as_aio(trio_cleanup_fails)())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(KeyError, match="trio clean-up failed"):
            await task

    async def body(loop):
        with pytest.raises(ValueError, match="asyncio clean-up failed"):
            with trio.move_on_after(0.01):
                await aio_as_trio(aio_cleanup_fails)()
        await aio_as_trio(aio_main)()

    run_hosted(body)


def test_nursery_clean_up_failure_replaces_the_cancellation_and_calls_go_on():
    # Cancelled from asyncio, a Trio nursery whose child fails in its
    # clean-up ends in a group that still holds the Cancelled; the call's
    # cancel scope removes its own Cancelled on the way out, leaving the
    # failure - which replaces the cancellation, and the next call works.
    async def child_fails_on_cancel():
        try:
            await trio.sleep_forever()
        finally:
            raise KeyError("child clean-up failed")

    async def trio_side():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(child_fails_on_cancel)
            await trio.sleep_forever()

    async def trio_ok():
        await trio.sleep(0)
        return "still working"

    async def aio_main():
        task = asyncio.ensure_future(trio_as_aio(trio_side)())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(ExceptionGroup) as caught:
            await task
        assert caught.group_contains(KeyError, match="child clean-up failed")
        return await trio_as_aio(trio_ok)()

    assert trioloop.run(aio_main()) == "still working"


def test_crossings_are_coroutines_for_start_soon_and_create_task():
    results = []

    async def aio_append(x):
        await asyncio.sleep(0)
        results.append(x)

    async def trio_append(x):
        await trio.sleep(0)
        results.append(x)

    async def aio_main():
        await asyncio.create_task(trio_as_aio(trio_append)("from create_task"))

    async def body(loop):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(aio_as_trio(aio_append), "from start_soon")
        await aio_as_trio(aio_main)()

    run_hosted(body)
    assert results == ["from start_soon", "from create_task"]


def test_objects_with_several_protocols_keep_them_all():
    class Connection:
        """Awaitable, an async context manager and an async iterator at once."""

        def __init__(self):
            self.items = [1, 2, 3]
            self.entered = False

        def __await__(self):
            return asyncio.sleep(0, self).__await__()

        async def __aenter__(self):
            self.entered = True
            return self

        async def __aexit__(self, *exc_info):
            self.entered = False

        def __aiter__(self):
            return self

        async def __anext__(self):
            await asyncio.sleep(0)
            if not self.items:
                raise StopAsyncIteration
            return self.items.pop(0)

    async def body(loop):
        connection = Connection()
        assert await aio_as_trio(connection) is connection
        async with aio_as_trio(connection) as entered:
            assert entered.entered
            got = [item async for item in aio_as_trio(connection)]
        return got, connection.entered

    assert run_hosted(body) == ([1, 2, 3], False)


def test_asyncio_generator_iterated_from_trio_belongs_to_the_loop():
    closed_in = []

    async def numbers():
        try:
            for i in range(10):
                await asyncio.sleep(0)
                yield i
        finally:
            closed_in.append(sniffio.current_async_library())

    async def body(loop):
        async for i in aio_as_trio(numbers()):
            assert len(loop._asyncgens) == 1  # registered with the loop
            if i == 2:
                break
        await trio.sleep(0.01)  # the loop's finalizer closes it

    run_hosted(body)
    assert closed_in == ["asyncio"]
