"""What only Unix has: signal handlers, subprocesses and their pipes.

asyncio keeps these in ``unix_events``; so do we, on top of it.  The loop's
base class here is asyncio's Unix selector loop (pipes, Unix sockets,
``sendfile``); this module replaces the two parts of it that would fight
Trio: signal handlers (no second ``set_wakeup_fd``) and child-process
watching (pidfds on the loop's own selector, no child watchers).
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import os
import signal
import threading
from asyncio import events, unix_events
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._subprocess import watch_child

if TYPE_CHECKING:
    from ._loop import _TrioSide

__all__ = ["PlatformEventLoop"]


class PlatformEventLoop(asyncio.SelectorEventLoop):
    """asyncio's Unix selector loop, with Trio-friendly signals and child
    watching; ``TrioEventLoop`` adds what every platform shares."""

    if TYPE_CHECKING:
        _trio: _TrioSide
        _signal_handlers: dict[int, asyncio.Handle]

        def _check_signal(self, sig: int) -> None: ...
        def _check_closed(self) -> None: ...
        def _add_reader(
            self, fd: int, callback: Callable[..., object], *args: Any
        ) -> None: ...
        def _remove_reader(self, fd: int) -> bool: ...
        def _handle_signal(self, sig: int) -> None: ...
        def _child_watcher_callback(
            self, pid: int, returncode: int, transp: Any
        ) -> None: ...

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        for pidfd in self._trio.child_pidfds:
            self._remove_reader(pidfd)
            _close_fd(pidfd)
        self._trio.child_pidfds = frozenset()
        super().close()

    # -- signals --------------------------------------------------------------
    #
    # asyncio routes signals through signal.set_wakeup_fd, which Trio owns for
    # the duration of trio.run.  A Python-level handler does the same job:
    # it runs in the main thread after Trio's wakeup fd has interrupted any
    # wait, and hands the callback to the loop thread-safely.

    def add_signal_handler(  # type: ignore[override]  # typeshed: TypeVarTuple
        self, sig: int, callback: Callable[..., object], *args: Any
    ) -> None:
        if asyncio.iscoroutine(callback) or inspect.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be added in the main thread")
        self._signal_handlers[sig] = events.Handle(callback, args, self, None)
        try:
            signal.signal(sig, self._on_signal)
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise

    def _on_signal(self, signum: int, frame: object) -> None:
        self._handle_signal(signum)

    def remove_signal_handler(self, sig: int) -> bool:
        self._check_signal(sig)
        if self._signal_handlers.pop(sig, None) is None:
            return False
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, default)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise
        return True

    # -- subprocesses ---------------------------------------------------------

    async def _make_subprocess_transport(
        self,
        protocol: asyncio.SubprocessProtocol,
        args: Any,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        extra: Any = None,
        **kwargs: Any,
    ) -> asyncio.SubprocessTransport:
        waiter = self.create_future()
        transport = unix_events._UnixSubprocessTransport(  # type: ignore[attr-defined]
            self, protocol, args, shell, stdin, stdout, stderr, bufsize,
            waiter=waiter, extra=extra, **kwargs,
        )  # fmt: skip
        # The exit goes through asyncio's own _child_watcher_callback, whose
        # timing differs by version (two loop iterations later on 3.10/3.11,
        # one on 3.12/3.13, at once on 3.14+): Process.wait() vs
        # connection_lost ordering, and so kill() raising ProcessLookupError
        # or not right after wait(), then match stock asyncio exactly.
        pid = transport.get_pid()
        watch_child(
            self,
            pid,
            lambda returncode: self._child_watcher_callback(pid, returncode, transport),
        )
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transport.close()
            await transport._wait()
            raise
        return transport  # type: ignore[no-any-return]


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
