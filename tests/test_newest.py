"""What Python 3.12-3.15 changed that a hosted loop must follow.

Runs on every version; each test skips (with the reason) where its feature
does not exist yet.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
import sniffio
import trio

import trioloop

needs_312 = pytest.mark.skipif(
    sys.version_info < (3, 12), reason="eager tasks are 3.12+"
)
needs_314 = pytest.mark.skipif(sys.version_info < (3, 14), reason="3.14+ API")


def run_clean(code: str) -> str:
    """Run ``code`` in a fresh interpreter with DeprecationWarnings as errors."""
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-c",
            textwrap.dedent(code),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_entry_points_emit_no_deprecation_warning():
    out = run_clean(
        """
        import asyncio, sys, trio, trioloop

        async def main():
            await asyncio.sleep(0)
            return type(asyncio.get_running_loop()).__name__

        print(trioloop.run(main()))
        if sys.version_info >= (3, 12):
            print(asyncio.run(main(), loop_factory=trioloop.new_event_loop))
        if sys.version_info >= (3, 11):
            with asyncio.Runner(loop_factory=trioloop.new_event_loop) as runner:
                print(runner.run(main()))

        async def trio_main():
            async with trioloop.open_loop():
                print(await trioloop.aio_as_trio(main)())

        trio.run(trio_main)
        print(asyncio.events._get_running_loop())
        """
    )
    lines = out.split()
    assert set(lines[:-1]) == {"TrioEventLoop"} and lines[-1] == "None"


@needs_314
def test_policy_api_warns_on_314():
    with pytest.warns(DeprecationWarning, match="loop_factory"):
        trioloop.EventLoopPolicy()


@needs_312
def test_eager_task_started_from_trio_code_sees_asyncio():
    seen = {}

    async def eager_step():
        seen["library"] = sniffio.current_async_library()
        seen["task"] = asyncio.current_task()
        seen["loop"] = asyncio.get_running_loop()

    async def main():
        async with trioloop.open_loop() as loop:
            loop.set_task_factory(asyncio.eager_task_factory)
            task = loop.create_task(eager_step())
            assert task.done()  # ran synchronously, in this Trio task
            assert seen == {"library": "asyncio", "task": task, "loop": loop}
            assert sniffio.current_async_library() == "trio"

    trio.run(main)


@needs_314
def test_create_task_eager_start_from_trio_code():
    async def eager_step():
        return sniffio.current_async_library(), asyncio.current_task()

    async def main():
        async with trioloop.open_loop() as loop:
            task = loop.create_task(eager_step(), eager_start=True, name="eager")
            assert task.done() and task.get_name() == "eager"
            assert task.result() == ("asyncio", task)

    trio.run(main)


@needs_314
def test_call_graph_of_asyncio_code_called_from_trio():
    async def leaf():
        return asyncio.capture_call_graph()

    async def middle():
        return await asyncio.create_task(leaf(), name="leaf-task")

    async def main():
        async with trioloop.open_loop():
            return await trioloop.aio_as_trio(middle)()

    graph = trio.run(main)
    assert graph.future.get_name() == "leaf-task"
    assert graph.awaited_by and isinstance(graph.awaited_by[0].future, asyncio.Task)


PS_TARGET = """
import asyncio, trioloop

async def waiter():
    await asyncio.sleep(60)

async def main():
    async with asyncio.TaskGroup() as group:
        group.create_task(waiter(), name="waiter-one")
        group.create_task(waiter(), name="waiter-two")
        print("ready", flush=True)

trioloop.run(main())
"""


@needs_314
def test_python_m_asyncio_ps_lists_the_tasks_of_a_trioloop_process():
    # 3.14's external task introspection reads the C-level task list of
    # another process: trioloop's tasks are asyncio's own, so it sees them.
    target = subprocess.Popen(
        [sys.executable, "-c", PS_TARGET],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert target.stdout is not None
        assert target.stdout.readline() == "ready\n"
        ps = subprocess.run(
            [sys.executable, "-m", "asyncio", "ps", str(target.pid)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        # (macOS, for one, lets only root read another process's memory;
        # asyncio's tool may print its error on stdout)
        if ps.returncode != 0 and "ermission" in ps.stderr + ps.stdout:
            pytest.skip(f"this machine forbids reading another process: {ps.stderr}")
        assert ps.returncode == 0, ps.stderr
        assert "waiter-one" in ps.stdout and "waiter-two" in ps.stdout
        assert "TaskGroup" in ps.stdout and "main" in ps.stdout
    finally:
        target.kill()
        target.wait()
        assert target.stdout is not None
        target.stdout.close()
