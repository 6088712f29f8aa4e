"""Known failures of CPython's test_asyncio on trioloop, each with its reason.

Keys are unittest ids without the package, ``module.Class.test_method``;
``*``/``?``/``[...]`` make a key an ``fnmatch`` pattern (used for the
epoll/poll/select variants of one test).  Values say what the harness does:

* ``xfail(reason)``     - runs, expected to fail (a passing run is reported);
* ``by_design(reason)`` - runs, expected to fail because the test checks
  something trioloop deliberately does differently;
* ``hang(reason)``      - not run: it would hang (the per-test timeout is only
  the safety net for new hangs); counted as an on-target skip.

``versions=`` restricts an entry to some Python versions, e.g.
``versions=("3.12", "3.13")``; ``loops=`` to some loops (default trioloop
only; stock asyncio has no expected failures of its own unless listed with
``loops=("asyncio",)``); ``flaky=True`` marks a failure that depends on
timing.  Reasons are one line, written for a user.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Entry:
    kind: str
    reason: str
    versions: tuple[str, ...] = ()
    loops: tuple[str, ...] = ("trioloop",)
    #: The failure depends on timing: a pass is not reported as "listed but
    #: passed".
    flaky: bool = False

    @property
    def run(self) -> bool:
        return self.kind != "hang"

    def label(self) -> str:
        prefix = {"xfail": "known failure", "by_design": "by design", "hang": "hangs"}
        return f"{prefix[self.kind]}: {self.reason}"


def xfail(reason: str, **kw: Any) -> Entry:
    return Entry("xfail", reason, **kw)


def by_design(reason: str, **kw: Any) -> Entry:
    return Entry("by_design", reason, **kw)


def hang(reason: str, **kw: Any) -> Entry:
    return Entry("hang", reason, **kw)


_SIGNAL_MOCKS = by_design(
    "mocks asyncio.unix_events.signal to check asyncio's set_wakeup_fd plumbing; "
    "trioloop installs plain signal handlers (Trio owns the wakeup fd)"
)

# The tests of this class that check a child's exit status.
_FAST_WATCHER = by_design(
    "FastChildWatcher reaps every child with waitpid(-1); trioloop waits for its "
    "own children through pidfds, not child watchers, so it finds them already "
    "reaped (exit status 255)"
)

_SIGNALS = "test_unix_events.SelectorEventLoopSignalTests."
_FAST = "test_subprocess.SubprocessFastWatcherTests."

EXPECTED: dict[str, Entry] = {
    # -- signals: tests of the stock _UnixSelectorEventLoop's internals ------
    **{
        _SIGNALS + name: _SIGNAL_MOCKS
        for name in [
            "test_add_signal_handler_install_error",
            "test_add_signal_handler_install_error2",
            "test_add_signal_handler_install_error3",
            "test_add_signal_handler_setup_error",
            "test_close",
            "test_remove_signal_handler",
            "test_remove_signal_handler_2",
            "test_remove_signal_handler_error",
            "test_remove_signal_handler_error2",
        ]
    },
    # -- child watchers (3.13 and older; 3.14 removed them) --------------------
    **{
        _FAST + name: _FAST_WATCHER
        for name in [
            "test_communicate",
            "test_communicate_none_input",
            "test_create_subprocess_env_exec",
            "test_create_subprocess_env_shell",
            "test_devnull_error",
            "test_devnull_input",
            "test_devnull_output",
            "test_devstdin_input",
            "test_empty_input",
            "test_kill",
            "test_kill_issue43884",
            "test_send_signal",
            "test_shell",
            "test_start_new_session",
            "test_stdin_not_inheritable",
            "test_stdin_stdout",
            "test_subprocess_concurrent_wait",
            "test_terminate",
        ]
    },
    # whether the watcher or trioloop reaps the child first is a race here
    _FAST + "test_subprocess_send_signal_race": replace(_FAST_WATCHER, flaky=True),
    "test_subprocess.GenericWatcherTests."
    "test_create_subprocess_fails_with_inactive_watcher": by_design(
        "expects an inactive child watcher to make subprocess creation fail; trioloop "
        "does not use child watchers"
    ),
    # 3.14+: the stock loop's own watcher, forced to its threaded flavour.
    "test_subprocess.SubprocessThreadedWatcherTests."
    "test_pid_not_reaped_before_exit_published": by_design(
        "inspects the stock loop's child-watcher threads (loop._watcher._threads); "
        "trioloop watches children through pidfds (its thread fallback keeps the "
        "same guarantee: the PID is reaped by the loop when the exit is published)"
    ),
}


def for_run(loop: str, version: tuple[int, int]) -> dict[str, Entry]:
    """The entries that apply to ``loop`` on Python ``version``."""
    v = f"{version[0]}.{version[1]}"
    return {
        key: entry
        for key, entry in EXPECTED.items()
        if loop in entry.loops and (not entry.versions or v in entry.versions)
    }
