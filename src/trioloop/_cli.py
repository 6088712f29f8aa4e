"""``python -m trioloop``: run an unmodified asyncio program on trioloop.

::

    python -m trioloop [--debug] path/to/app.py [args...]
    python -m trioloop [--debug] -m package.module [args...]

The program runs as ``python app.py`` / ``python -m package.module`` would run
it (``__name__ == "__main__"``, ``sys.argv``, ``sys.path[0]``, tracebacks and
exit codes), except that every event loop asyncio creates for it is a
:class:`~trioloop.TrioEventLoop`.

How: asyncio creates the loops of ``asyncio.run()``, ``asyncio.Runner()``
(without ``loop_factory``), ``asyncio.new_event_loop()`` and the implicit loop
of ``asyncio.get_event_loop()`` through the event loop policy, on every Python
from 3.10 to 3.15, so installing :class:`~trioloop.EventLoopPolicy` covers
them all.  The alternatives are worse: patching ``asyncio.new_event_loop``
misses ``asyncio.run``, which calls ``events.new_event_loop`` inside asyncio
(3.12+) or the policy directly; patching ``asyncio.Runner`` misses the rest.

Policies are deprecated from Python 3.14, and ``asyncio.set_event_loop_policy``
then warns.  The warning is meant for programs that choose a policy, not for
a launcher that chooses one on a program's behalf, so on 3.14+ the CLI calls
``asyncio.events._set_event_loop_policy``, the function asyncio's deprecated
public one wraps (and silences ``EventLoopPolicy``'s own warning): the program
sees no ``DeprecationWarning`` it did not cause.
Asyncio itself still reads the policy without warning there.  Python 3.16
removes policies; the CLI will then need another way in.

What this cannot cover: a program that installs its own policy or loop
factory (uvloop's ``install()``, ``loop_factory=uvloop.new_event_loop``), or
that constructs a loop class itself (``asyncio.SelectorEventLoop()``), gets
the loop it asked for.  On 3.12/3.13 the child-watcher methods of asyncio's
Unix policy (deprecated there) are absent from trioloop's policy.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import sys
import warnings
from asyncio import events
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import NoReturn

from ._policy import EventLoopPolicy
from ._version import __version__

__all__ = ["main"]

PROG = "trioloop"

USAGE = f"""\
usage: {PROG} [--debug] path/to/app.py [args...]
       {PROG} [--debug] -m package.module [args...]

Run an asyncio program with trioloop as its event loop.

options:
  -m MODULE    run library module MODULE as a script (like python -m)
  --debug      asyncio debug mode for the program (as PYTHONASYNCIODEBUG=1)
  --version    print trioloop's version and exit
  -h, --help   show this message and exit
"""


class _Program:
    """What to run: a script path (``python app.py``) or a module
    (``python -m package.module``)."""

    def __init__(self, *, path: str | None = None, module: str | None = None) -> None:
        self.path = path
        self.module = module

    @property
    def launch_exit(self) -> int:
        """Python's exit code when the program cannot be started."""
        return 2 if self.path is not None else 1

    def run(self, args: list[str]) -> None:
        replace_path0 = not getattr(sys.flags, "safe_path", False)  # python -P
        if self.path is not None:
            sys.argv[:] = [self.path, *args]
            if replace_path0:
                # python app.py puts the script's directory first on sys.path,
                # where ours is (the working or the console script's directory).
                sys.path[0] = os.path.dirname(os.path.abspath(self.path))
            runpy.run_path(self.path, run_name="__main__")
        else:
            assert self.module is not None
            sys.argv[:] = [self.module, *args]  # run_module sets argv[0] to the file
            if replace_path0:
                sys.path[0] = os.getcwd()  # as python -m does
            runpy.run_module(self.module, run_name="__main__", alter_sys=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the program named on the command line; raises ``SystemExit`` on
    failure, with the exit code the program would have had."""
    program, args, debug = _parse(list(sys.argv[1:] if argv is None else argv))
    if debug:
        os.environ["PYTHONASYNCIODEBUG"] = "1"  # read by each new loop
    _use_trioloop_for_new_loops()
    _run(program, args)


def _parse(args: list[str]) -> tuple[_Program, list[str], bool]:
    """Options come before the program, as for ``python``; everything after
    the program's path or module name belongs to the program."""
    debug = False
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if arg == "--version":
            print(f"{PROG} {__version__}")
            raise SystemExit(0)
        if arg == "--debug":
            debug = True
        elif arg.startswith("-m"):
            module = arg[2:] or (args.pop(0) if args else "")
            if not module:
                _usage_error("argument -m: expected a module name")
            return _Program(module=module), args, debug
        elif arg == "--":
            break
        elif arg.startswith("-"):
            _usage_error(f"unknown option {arg!r}")
        else:
            return _Program(path=arg), args, debug
    if not args:
        _usage_error("expected a program to run")
    return _Program(path=args[0]), args[1:], debug


def _usage_error(message: str) -> NoReturn:
    sys.stderr.write(f"{USAGE.splitlines()[0]}\n{PROG}: error: {message}\n")
    raise SystemExit(2)


def _use_trioloop_for_new_loops() -> None:
    """Make asyncio create ``TrioEventLoop``s for the program (see the module
    docstring for why through the policy, and why the private setter)."""
    set_policy: Callable[[EventLoopPolicy], None] = (
        getattr(events, "_set_event_loop_policy", None) or asyncio.set_event_loop_policy
    )
    with warnings.catch_warnings():
        # trioloop.EventLoopPolicy warns on 3.14+ too, for the same reason
        warnings.simplefilter("ignore", DeprecationWarning)
        policy = EventLoopPolicy()
    set_policy(policy)


def _run(program: _Program, args: list[str]) -> None:
    """Run ``program``, reporting an uncaught exception as Python would:
    traceback (without the launcher's frames) through ``sys.excepthook``, and
    exit code 1.  An error before the program's first line ran (no such file,
    no such module) gets Python's one-line message and exit code instead."""
    try:
        program.run(args)
    except (SystemExit, KeyboardInterrupt):
        raise  # Python's own handling: exit codes, and death by SIGINT
    except BaseException as exc:  # noqa: BLE001  (reported as Python would)
        traceback = _program_frames(exc.__traceback__)
        if traceback is None and isinstance(exc, (OSError, ImportError)):
            sys.stderr.write(f"{PROG}: {_launch_message(exc)}\n")
            raise SystemExit(program.launch_exit) from None
        # (the default hook prints exc.__traceback__, not its third argument)
        sys.excepthook(type(exc), exc.with_traceback(traceback), traceback)
        raise SystemExit(1) from None


def _launch_message(exc: OSError | ImportError) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        name = os.fsdecode(exc.filename)
        return f"can't open file {name!r}: [Errno {exc.errno}] {exc.strerror}"
    return str(exc)


_LAUNCHER_MODULES = frozenset({__name__, "runpy"})


def _program_frames(traceback: TracebackType | None) -> TracebackType | None:
    """``traceback`` without its leading frames of this module and runpy."""
    while traceback is not None and (
        traceback.tb_frame.f_globals.get("__name__") in _LAUNCHER_MODULES
    ):
        traceback = traceback.tb_next
    return traceback
