"""``python -m trioloop``: unmodified asyncio programs, run in real subprocesses.

Each program is written to ``tmp_path`` and imports nothing from trioloop: it
reports which loop it got (``TrioEventLoop``) and whether its code ran inside
``trio.run``, so a program that silently ran on stock asyncio fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# What each program prints about its loop: the class, whether the coroutine
# really ran inside trio.run, and whether the loop is in debug mode.  The
# programs import it from their directory (first on sys.path, as for python).
REPORT = """\
import asyncio, trio

def report(tag=""):
    loop = asyncio.get_running_loop()
    print(tag, type(loop).__name__, trio.lowlevel.in_trio_run(), loop.get_debug())
"""

ON_TRIOLOOP = "TrioEventLoop True False"


def write(path: Path, source: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


@pytest.fixture(autouse=True)
def report_module(tmp_path: Path) -> None:
    write(tmp_path / "report.py", REPORT)


@pytest.fixture
def app(tmp_path: Path) -> Callable[[str], None]:
    """Writes the program ``tmp_path/app.py``."""
    return functools.partial(write, tmp_path / "app.py")


def trioloop_cli(
    *args: str, cwd: Path, python_args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE", "PYTHONWARNINGS")
    }
    return subprocess.run(
        [sys.executable, *python_args, "-m", "trioloop", *args],
        cwd=cwd,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_asyncio_run_gets_trioloop_and_argv(
    tmp_path: Path, app: Callable[[str], None]
) -> None:
    app("""
        import asyncio, sys
        from report import report

        async def main():
            report("run")
            await asyncio.sleep(0.01)
            print(sys.argv)
            print(__name__)

        asyncio.run(main())
    """)
    result = trioloop_cli("app.py", "a", "--flag", "-m", "x y", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"run {ON_TRIOLOOP}",
        "['app.py', 'a', '--flag', '-m', 'x y']",
        "__main__",
    ]
    assert result.stderr == ""


def test_every_way_of_making_a_loop(tmp_path: Path, app: Callable[[str], None]) -> None:
    app("""
        import asyncio, sys, warnings
        from report import report

        async def main(tag):
            report(tag)

        if sys.version_info < (3, 14):
            # the legacy idiom, first thing in a program: get_event_loop() makes
            # the loop (with a DeprecationWarning on 3.12 and 3.13)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                loop = asyncio.get_event_loop()
            loop.run_until_complete(main("get_event_loop"))
            loop.close()
        else:
            print("get_event_loop", "TrioEventLoop True False")
        asyncio.run(main("asyncio.run"))
        if sys.version_info >= (3, 11):
            with asyncio.Runner() as runner:
                runner.run(main("Runner"))
        else:
            print("Runner", "TrioEventLoop True False")
        loop = asyncio.new_event_loop()
        loop.run_until_complete(main("new_event_loop"))
        loop.close()
    """)
    result = trioloop_cli("app.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{tag} {ON_TRIOLOOP}"
        for tag in ("get_event_loop", "asyncio.run", "Runner", "new_event_loop")
    ]


def test_no_deprecation_warning_on_any_python(
    tmp_path: Path, app: Callable[[str], None]
) -> None:
    """Policies are deprecated from 3.14; the CLI's use of one must not warn."""
    app("""
        import asyncio
        from report import report

        async def main():
            report()

        asyncio.run(main())
        loop = asyncio.new_event_loop()
        loop.run_until_complete(main())
        loop.close()
    """)
    result = trioloop_cli(
        "app.py", cwd=tmp_path, python_args=("-W", "error::DeprecationWarning")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f" {ON_TRIOLOOP}"] * 2
    assert "Warning" not in result.stderr


def test_script_directory_is_first_on_sys_path(tmp_path: Path) -> None:
    write(tmp_path / "app/helper.py", "VALUE = 'helper from the script directory'\n")
    write(
        tmp_path / "app/main.py",
        """
        import helper
        print(helper.VALUE)
    """,
    )
    result = trioloop_cli(str(Path("app", "main.py")), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "helper from the script directory\n"


def test_module_mode(tmp_path: Path) -> None:
    write(tmp_path / "pkg/__init__.py", "")
    write(tmp_path / "pkg/helper.py", "VALUE = 42\n")
    write(
        tmp_path / "pkg/app.py",
        """
        import asyncio, sys
        from report import report
        from .helper import VALUE

        async def main():
            report("module")

        if __name__ == "__main__":
            asyncio.run(main())
            print(sys.argv[0] == __file__, sys.argv[1:], VALUE)
    """,
    )
    result = trioloop_cli("-m", "pkg.app", "one", "--two", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"module {ON_TRIOLOOP}",
        "True ['one', '--two'] 42",
    ]


def test_package_main(tmp_path: Path) -> None:
    write(tmp_path / "pkg/__init__.py", "")
    write(
        tmp_path / "pkg/__main__.py",
        """
        import asyncio
        from report import report

        async def main():
            report("package")

        asyncio.run(main())
    """,
    )
    result = trioloop_cli("-mpkg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"package {ON_TRIOLOOP}\n"


def test_debug(tmp_path: Path, app: Callable[[str], None]) -> None:
    app("""
        import asyncio, os
        from report import report

        async def main():
            report("debug")

        asyncio.run(main())
        print(os.environ.get("PYTHONASYNCIODEBUG"))
    """)
    result = trioloop_cli("--debug", "app.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["debug TrioEventLoop True True", "1"]
    result = trioloop_cli("app.py", cwd=tmp_path)
    assert result.stdout.splitlines() == [f"debug {ON_TRIOLOOP}", "None"]


def test_uncaught_exception_is_reported_as_python_would(
    tmp_path: Path, app: Callable[[str], None]
) -> None:
    app("""
        import asyncio

        async def main():
            await asyncio.sleep(0)
            raise ValueError("boom")

        asyncio.run(main())
    """)
    result = trioloop_cli("app.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith('  File "app.py", line 8, in <module>')
    assert lines[-1] == "ValueError: boom"
    assert "_cli.py" not in result.stderr and "runpy" not in result.stderr


def test_syntax_error(tmp_path: Path) -> None:
    write(tmp_path / "app.py", "x = (\n")
    result = trioloop_cli("app.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("SyntaxError:")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("statement", "code", "stderr"),
    [("sys.exit(3)", 3, ""), ("sys.exit('bye')", 1, "bye\n"), ("sys.exit()", 0, "")],
)
def test_exit_codes(tmp_path: Path, statement: str, code: int, stderr: str) -> None:
    write(tmp_path / "app.py", f"import sys\n{statement}\n")
    result = trioloop_cli("app.py", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (code, stderr)


def test_exit_code_from_inside_a_coroutine(
    tmp_path: Path, app: Callable[[str], None]
) -> None:
    app("""
        import asyncio, sys

        async def main():
            sys.exit(5)

        asyncio.run(main())
    """)
    result = trioloop_cli("app.py", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (5, "")


#: How python ends on an uncaught KeyboardInterrupt, so that the shell sees
#: it: killed by SIGINT; on Windows, exit status STATUS_CONTROL_C_EXIT.
ENDED_BY_CTRL_C = 0xC000013A if sys.platform == "win32" else -signal.SIGINT


def test_keyboard_interrupt_kills_by_sigint(tmp_path: Path) -> None:
    """As with python itself: an uncaught KeyboardInterrupt ends the process
    by SIGINT (Windows: with Ctrl+C's exit status)."""
    write(tmp_path / "app.py", "raise KeyboardInterrupt\n")
    result = trioloop_cli("app.py", cwd=tmp_path)
    assert result.returncode == ENDED_BY_CTRL_C
    assert result.stderr.splitlines()[-1] == "KeyboardInterrupt"


def test_a_real_library(tmp_path: Path, app: Callable[[str], None]) -> None:
    """An aiohttp server and client, as an unmodified program."""
    pytest.importorskip("aiohttp")
    app("""
        import asyncio
        from aiohttp import ClientSession, web
        from report import report

        async def hello(request):
            return web.Response(text="hello from aiohttp")

        async def main():
            report("aiohttp")
            runner = web.AppRunner(web.Application())
            runner.app.router.add_get("/", hello)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            async with ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/") as response:
                    print(await response.text())
            await runner.cleanup()

        asyncio.run(main())
    """)
    result = trioloop_cli("app.py", cwd=tmp_path, python_args=("-X", "dev"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "aiohttp TrioEventLoop True True",
        "hello from aiohttp",
    ]
    assert result.stderr == ""


def test_missing_program(tmp_path: Path) -> None:
    result = trioloop_cli("nope.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("trioloop: can't open file ")
    assert "No such file or directory" in result.stderr
    result = trioloop_cli("-m", "no_such_module", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "trioloop: No module named no_such_module\n"


def test_usage(tmp_path: Path) -> None:
    result = trioloop_cli(cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: trioloop" in result.stderr
    result = trioloop_cli("--frobnicate", "app.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown option '--frobnicate'" in result.stderr
    result = trioloop_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: trioloop")


def test_console_script(tmp_path: Path, app: Callable[[str], None]) -> None:
    # (where pip puts scripts: beside python in a venv, Scripts\ on Windows)
    scripts = sysconfig.get_path("scripts")
    script = shutil.which("trioloop", path=scripts)
    if script is None:
        pytest.skip(f"no trioloop console script in {scripts} (reinstall .[test])")
    app("""
        import asyncio, sys
        from report import report

        async def main():
            report("script")

        asyncio.run(main())
        print(sys.argv[1:])
    """)
    result = subprocess.run(
        [script, "app.py", "x"], cwd=tmp_path, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"script {ON_TRIOLOOP}", "['x']"]
