"""trioloop's pytest plugin, run on real suites in subprocesses.

``tests/plugin_sample`` is a small suite of pytest-asyncio, anyio and
pytest-trio tests; ``EXPECT_TRIOLOOP`` tells its asyncio tests which loop they
must find running, so a switch that silently did nothing fails them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("pytest_asyncio")
pytest.importorskip("anyio")

SAMPLE = Path(__file__).parent / "plugin_sample"

# The sample's tests that check which loop they run on.
LOOP_TESTS = {
    "sample_anyio.py::test_loop[asyncio]",
    "sample_pytest_asyncio.py::test_loop",
    "sample_pytest_asyncio.py::test_echo_server_from_an_async_fixture",
    "sample_pytest_asyncio.py::test_module_scoped_loop_first",
}
ALL_TESTS = LOOP_TESTS | {
    "sample_anyio.py::test_loop[trio]",
    "sample_anyio.py::test_task_group_and_streams[asyncio]",
    "sample_anyio.py::test_task_group_and_streams[trio]",
    "sample_anyio_loop_factory.py::test_loop_is_trioloop",
    "sample_pytest_asyncio.py::test_timeouts_and_tasks",
    "sample_pytest_asyncio.py::test_module_scoped_loop_second",
    "sample_trio.py::test_asyncio_sleep_follows_the_autojump_clock",
    "sample_trio.py::test_asyncio_code_in_a_trio_test",
}
HEADER = "trioloop: pytest-asyncio and anyio (asyncio backend) run on TrioEventLoop"


class Run:
    """A pytest run in a subprocess: its output and each test's outcome."""

    def __init__(self, suite: Path, args: list[str], env: dict[str, str]) -> None:
        report = env["RUN_REPORT"]
        self.process = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v",
             f"--junitxml={report}", *args],
            cwd=suite, env=env, capture_output=True, text=True, check=False,
            timeout=120,
        )  # fmt: skip
        self.outcomes: dict[str, str] = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            module = case.get("classname", "").rsplit(".", 1)[-1]
            results = [child.tag for child in case if child.tag != "system-out"]
            self.outcomes[f"{module}.py::{case.get('name')}"] = (
                results[0] if results else "passed"
            )

    def failed(self) -> set[str]:
        return {name for name, outcome in self.outcomes.items() if outcome != "passed"}

    def __repr__(self) -> str:
        return self.process.stdout + self.process.stderr


def run_pytest(
    tmp_path: Path,
    *args: str,
    expect_trioloop: bool,
    suite: Path = SAMPLE,
    autoload: bool = True,
) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["EXPECT_TRIOLOOP"] = "1" if expect_trioloop else "0"
    env["RUN_REPORT"] = str(tmp_path / "report.xml")
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return Run(suite, list(args), env)


def test_switch_runs_the_suite_on_trioloop(tmp_path: Path) -> None:
    run = run_pytest(tmp_path, "--trioloop", expect_trioloop=True)
    assert run.process.returncode == 0, run
    assert set(run.outcomes) == ALL_TESTS, run
    assert not run.failed(), run
    assert HEADER in run.process.stdout


def test_ini_setting_runs_the_suite_on_trioloop(tmp_path: Path) -> None:
    run = run_pytest(tmp_path, "-o", "trioloop=true", expect_trioloop=True)
    assert run.process.returncode == 0, run
    assert set(run.outcomes) == ALL_TESTS, run


def test_nothing_changes_without_the_switch(tmp_path: Path) -> None:
    run = run_pytest(tmp_path, expect_trioloop=False)
    assert run.process.returncode == 0, run
    assert set(run.outcomes) == ALL_TESTS, run
    assert HEADER not in run.process.stdout


def test_the_sample_notices_the_default_loop(tmp_path: Path) -> None:
    """The control: told to expect trioloop without the switch, exactly the
    tests that check their loop fail."""
    run = run_pytest(tmp_path, expect_trioloop=True)
    assert run.process.returncode == 1, run
    assert run.failed() == LOOP_TESTS, run


def test_explicit_plugin_loading(tmp_path: Path) -> None:
    """With entry points off, ``-p trioloop`` loads the plugin by its name."""
    run = run_pytest(
        tmp_path,
        "--trioloop",
        "-p", "trioloop",
        "-p", "pytest_asyncio.plugin",
        "-p", "anyio.pytest_plugin",
        "-p", "pytest_trio.plugin",
        expect_trioloop=True,
        autoload=False,
    )  # fmt: skip
    assert run.process.returncode == 0, run
    assert set(run.outcomes) == ALL_TESTS, run


def test_a_suites_own_loop_choice_wins(tmp_path: Path) -> None:
    """--trioloop replaces the default loop only: loop factories that a suite
    names itself (pytest-asyncio's hook, anyio's ``loop_factory``) stay."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    (suite / "conftest.py").write_text(
        textwrap.dedent("""
        import asyncio

        def pytest_asyncio_loop_factories(config, item):
            return {"stock": asyncio.new_event_loop}
    """)
    )
    (suite / "test_own_choice.py").write_text(
        textwrap.dedent("""
        import asyncio
        import pytest
        import trioloop

        @pytest.fixture
        def anyio_backend():
            return ("asyncio", {"loop_factory": asyncio.new_event_loop})

        @pytest.mark.asyncio
        async def test_pytest_asyncio():
            assert not isinstance(asyncio.get_running_loop(), trioloop.TrioEventLoop)

        @pytest.mark.anyio
        async def test_anyio():
            assert not isinstance(asyncio.get_running_loop(), trioloop.TrioEventLoop)
    """)
    )
    run = run_pytest(tmp_path, "--trioloop", expect_trioloop=True, suite=suite)
    assert run.process.returncode == 0, run
    assert set(run.outcomes) == {
        "test_own_choice.py::test_pytest_asyncio",
        "test_own_choice.py::test_anyio",
    }, run


LOOP_CHECK = """
import asyncio
import pytest

@pytest.mark.asyncio
async def test_loop():
    assert type(asyncio.get_running_loop()).__name__ == "{loop}"
"""


def _own_loop_plugin(name: str) -> str:
    """A plugin module whose ``trylast`` hook answers with its own loop."""
    return textwrap.dedent(f"""
        import asyncio
        import pytest

        class OwnLoop(asyncio.SelectorEventLoop):
            pass

        @pytest.hookimpl(trylast=True)
        def pytest_asyncio_loop_factories(config, item):
            return {{"{name}": OwnLoop}}
    """)


@pytest.mark.parametrize(
    "where", ["module pytest_plugins", "sub-directory conftest", "nowhere"]
)
def test_a_trylast_implementation_registered_after_the_switch_wins(
    tmp_path: Path, where: str
) -> None:
    """The switch answers only when every other implementation answered
    None: registered after it (the switch registers in pytest_configure),
    a suite's own ``trylast`` implementation still wins, one that answers
    None does not hand the choice to the switch, and with no other answer
    (``nowhere``) the switch gives trioloop's loop."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    (suite / "answers_none.py").write_text(
        textwrap.dedent("""
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_asyncio_loop_factories(config, item):
            return None
    """)
    )
    own_loop_check = LOOP_CHECK.format(loop="OwnLoop")
    test_file = suite / "test_choice.py"
    if where == "module pytest_plugins":
        (suite / "own_loops.py").write_text(_own_loop_plugin("own"))
        plugins = 'pytest_plugins = ("answers_none", "own_loops")\n'
        test_file.write_text(plugins + own_loop_check)
    elif where == "sub-directory conftest":
        (suite / "conftest.py").write_text('pytest_plugins = ("answers_none",)\n')
        (suite / "sub").mkdir()
        (suite / "sub" / "conftest.py").write_text(_own_loop_plugin("sub"))
        test_file = suite / "sub" / "test_choice.py"
        test_file.write_text(own_loop_check)
    else:
        plugins = 'pytest_plugins = ("answers_none",)\n'
        test_file.write_text(plugins + LOOP_CHECK.format(loop="TrioEventLoop"))
    run = run_pytest(tmp_path, "--trioloop", expect_trioloop=True, suite=suite)
    assert run.process.returncode == 0, run
    assert set(run.outcomes) == {"test_choice.py::test_loop"}, run
