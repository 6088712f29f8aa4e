"""Choosing the driver (``TRIOLOOP_DRIVER``), what each does with an fd
that asyncio code and Trio code both wait on, and that the portable driver's
fd watchers do not spin on an fd that stays ready.

The whole suite runs with either driver (``scripts/test-portable.sh`` runs it
with ``TRIOLOOP_DRIVER=portable``); these tests pin the choice itself, and
the one place where the two drivers differ on purpose.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import socket
import subprocess
import sys
import textwrap
import threading
import traceback
from pathlib import Path

import pytest
import trio
import trio.testing
from _support import loop_driver, new_stock_loop

import trioloop
from trioloop import aio_as_trio

LINUX = sys.platform.startswith("linux")
#: Whether the epoll driver can run here: on Linux, unless asyncio's
#: ``select`` has no epoll (``TRIOLOOP_TEST_NO_EPOLL``, ``tests/_no_epoll``).
EPOLL_HERE = LINUX and hasattr(select, "epoll")


@pytest.mark.parametrize("value", ["portable", "epoll", "auto", ""])
def test_the_variable_picks_the_driver(monkeypatch, value):
    monkeypatch.setenv("TRIOLOOP_DRIVER", value)
    if value == "epoll" and not EPOLL_HERE:
        with pytest.raises(RuntimeError, match="TRIOLOOP_DRIVER=epoll, but "):
            loop_driver()
        return
    expected = value if value in ("epoll", "portable") else None
    if expected is None:  # auto (also when set but empty)
        expected = "epoll" if EPOLL_HERE else "portable"
    assert loop_driver() == expected


def test_the_portable_driver_never_blocks_in_place_and_says_so(monkeypatch, caplog):
    monkeypatch.setenv("TRIOLOOP_DRIVER", "portable")
    seen = []

    async def main():
        async with trioloop.open_loop(debug=True) as loop:
            await trio.sleep(0)
            seen.append((loop.driver, loop.idle_blocking))

    with caplog.at_level(logging.DEBUG, logger="trioloop"):
        trio.run(main)
    assert seen == [("portable", False)]
    assert any(
        "parks in Trio on every wait: portable driver" in r.getMessage()
        for r in caplog.records
    )


def test_a_bad_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TRIOLOOP_DRIVER", "kqueue")
    with pytest.raises(
        ValueError, match="TRIOLOOP_DRIVER='kqueue'.*auto, epoll, portable"
    ):
        trioloop.new_event_loop()


#: Put on a child's ``PYTHONPATH`` with ``TRIOLOOP_TEST_NO_EPOLL=1``: its
#: ``sitecustomize`` hides epoll from everything imported after Trio (so
#: ``selectors`` and asyncio pick poll), as on macOS and Windows, while Trio
#: keeps the real module and its epoll I/O manager.
NO_EPOLL_DIR = Path(__file__).parent / "_no_epoll"

_WORKS_WITHOUT_EPOLL = """
import asyncio, select, selectors, sys, threading
import trioloop
from trioloop._trio_internals import io_manager_is_epoll

print("select.epoll", hasattr(select, "epoll"), selectors.DefaultSelector.__name__)
print("trio on epoll", io_manager_is_epoll())

async def echo(reader, writer):
    writer.write(await reader.read(100))
    await writer.drain()
    writer.close()

async def main():
    loop = asyncio.get_running_loop()
    print("driver", loop.driver)
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    print("echo", (await reader.read(100)).decode())
    writer.close()
    server.close()
    await server.wait_closed()
    fired = loop.create_future()
    loop.call_later(0.01, fired.set_result, "timer")
    print(await fired)
    woken = loop.create_future()
    threading.Thread(
        target=loop.call_soon_threadsafe, args=(woken.set_result, "thread")
    ).start()
    print(await woken)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "print('child')", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    print(out.decode().strip(), proc.returncode)

trioloop.run(main())
"""


def _run_without_epoll(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(
        filter(None, [str(NO_EPOLL_DIR), os.environ.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path, "TRIOLOOP_TEST_NO_EPOLL": "1", **env},
    )


@pytest.mark.skipif(not LINUX, reason="imitates a platform without epoll on Linux")
def test_without_epoll_for_asyncio_the_portable_driver_runs():
    done = _run_without_epoll(_WORKS_WITHOUT_EPOLL, TRIOLOOP_DRIVER="auto")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n") == [
        "select.epoll False PollSelector",
        "trio on epoll True",
        "driver portable",
        "echo ping",
        "timer",
        "thread",
        "child 0",
        "",
    ]


@pytest.mark.skipif(not LINUX, reason="imitates a platform without epoll on Linux")
def test_forcing_epoll_where_it_cannot_run_is_a_clear_error():
    done = _run_without_epoll(
        "import trioloop\ntrioloop.new_event_loop()\n", TRIOLOOP_DRIVER="epoll"
    )
    assert done.returncode != 0
    assert (
        "RuntimeError: TRIOLOOP_DRIVER=epoll, but asyncio's selectors have no epoll"
        in (done.stderr)
    )


# -- one fd, waited on by asyncio code and Trio code ---------------------------


def _drivers() -> list[str]:
    return ["epoll", "portable"] if EPOLL_HERE else ["portable"]


@pytest.fixture
def sock_with_peer():
    a, b = socket.socketpair()
    with a, b:
        yield a, b


def _set_once(future: asyncio.Future[str], value: str) -> None:
    # A level-triggered reader is called again until it is removed.
    if not future.done():
        future.set_result(value)


async def _send_when_all_wait(peer: socket.socket) -> None:
    await trio.testing.wait_all_tasks_blocked()
    peer.send(b"x")


async def _trio_then_asyncio(sock: socket.socket, peer: socket.socket) -> str:
    """A Trio task waits for ``sock`` to be readable, then asyncio code does."""
    async with trioloop.open_loop() as loop:
        async with trio.open_nursery() as nursery:
            trio_woken = trio.Event()

            async def trio_reader() -> None:
                await trio.lowlevel.wait_readable(sock)
                trio_woken.set()

            nursery.start_soon(trio_reader)
            await trio.testing.wait_all_tasks_blocked()
            asyncio_woken = loop.create_future()
            loop.add_reader(sock, _set_once, asyncio_woken, "asyncio woken")
            nursery.start_soon(_send_when_all_wait, peer)
            try:
                with trio.fail_after(10):
                    result = await aio_as_trio(asyncio_woken)
                    await trio_woken.wait()
            finally:
                loop.remove_reader(sock)
            return result


@pytest.mark.parametrize("driver", _drivers())
def test_trio_waits_then_asyncio_waits_on_the_same_fd(
    monkeypatch, driver, sock_with_peer
):
    """The epoll driver serves both (Trio sees only the selector's fd); the
    portable driver cannot (Trio allows one waiter per fd and direction) and
    fails the loop with an error naming the fd, rather than leaving the
    asyncio side waiting forever."""
    monkeypatch.setenv("TRIOLOOP_DRIVER", driver)
    if driver == "epoll":
        assert trio.run(_trio_then_asyncio, *sock_with_peer) == "asyncio woken"
        return
    with pytest.raises(BaseException) as caught:  # noqa: PT011 (checked below)
        trio.run(_trio_then_asyncio, *sock_with_peer)
    # The loop's error, and the waiting Trio code's ("the loop stopped"),
    # come out of the test's nursery together.
    report = "".join(traceback.format_exception(caught.value))
    assert (
        f"RuntimeError: fd {sock_with_peer[0].fileno()}: asyncio code waits" in report
    )


async def _asyncio_then_trio(sock: socket.socket, peer: socket.socket) -> str:
    """asyncio code waits for ``sock`` to be readable, then a Trio task."""
    async with trioloop.open_loop() as loop:
        asyncio_woken = loop.create_future()
        loop.add_reader(sock, _set_once, asyncio_woken, "asyncio woken")
        await trio.testing.wait_all_tasks_blocked()  # the driver has parked
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_send_when_all_wait, peer)
                try:
                    with trio.fail_after(10):
                        await trio.lowlevel.wait_readable(sock)
                except trio.BusyResourceError:
                    nursery.cancel_scope.cancel()
                    return "trio: busy"
            return "trio woken, " + await aio_as_trio(asyncio_woken)
        finally:
            loop.remove_reader(sock)


@pytest.mark.parametrize("driver", _drivers())
def test_asyncio_waits_then_trio_waits_on_the_same_fd(
    monkeypatch, driver, sock_with_peer
):
    """The other order: with the portable driver the Trio side gets Trio's
    own ``BusyResourceError``."""
    monkeypatch.setenv("TRIOLOOP_DRIVER", driver)
    expected = "trio woken, asyncio woken" if driver == "epoll" else "trio: busy"
    assert trio.run(_asyncio_then_trio, *sock_with_peer) == expected


# -- an fd number reused within one batch ---------------------------------------


async def _reader_on_a_reused_fd_number() -> str:
    """Remove a reader whose wait is armed in Trio, close its fd, and
    register a new socket that gets the same fd number, all in one step of
    asyncio code; then only that socket's readiness (data sent later from
    another thread) may wake the loop.  A wait left armed on the closed fd
    would never fire."""
    loop = asyncio.get_running_loop()
    old, old_peer = socket.socketpair()
    loop.add_reader(old, print, "never ready")
    await asyncio.sleep(0.01)  # the loop has slept with the reader armed
    number = old.fileno()
    loop.remove_reader(old)
    old.close()
    old_peer.close()
    new, new_peer = socket.socketpair()
    with new, new_peer:
        if number not in (new.fileno(), new_peer.fileno()):
            return "fd number not reused"  # the kernel chose otherwise
        if new.fileno() != number:
            new, new_peer = new_peer, new
        woken = loop.create_future()
        loop.add_reader(new, _set_once, woken, "woken by the new socket")
        sender = threading.Timer(0.05, new_peer.send, (b"x",))
        sender.start()
        try:
            return await asyncio.wait_for(woken, 10)
        finally:
            loop.remove_reader(new)
            sender.join()


@pytest.mark.parametrize("driver", _drivers())
def test_a_reused_fd_number_is_waited_on_afresh(monkeypatch, driver, run, flavour):
    monkeypatch.setenv("TRIOLOOP_DRIVER", driver)
    result = run(_reader_on_a_reused_fd_number())
    if result == "fd number not reused":
        pytest.skip("the OS gave the new socket another fd number")
    assert result == "woken by the new socket"


# -- an fd that stays ready while the loop runs --------------------------------


class _StepCounter(trio.abc.Instrument):
    """Counts Trio steps of the loop's driver task and of fd watchers."""

    def __init__(self) -> None:
        self.last: trio.lowlevel.Task | None = None
        self.driver: trio.lowlevel.Task | None = None
        self.driver_steps = 0
        self.watcher_steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.last = task
        if task is self.driver:
            self.driver_steps += 1
        elif task.name.endswith("._watch"):
            self.watcher_steps += 1


async def _ready_while_busy(sock: socket.socket, peer: socket.socket) -> int:
    """Keep ``sock`` readable, unread, for 30 Trio steps of the driver."""
    counter = _StepCounter()
    async with trioloop.open_loop() as loop:
        done = loop.create_future()

        def on_readable() -> None:
            if counter.driver is None:
                # The first call the driver runs (a woken portable watcher
                # runs the loop itself while the driver sleeps).
                last = counter.last
                if last is not None and not last.name.endswith("._watch"):
                    counter.driver = last
            elif counter.driver_steps >= 30:
                sock.recv(1)
                loop.remove_reader(sock)
                trio.lowlevel.remove_instrument(counter)
                done.set_result(None)

        loop.add_reader(sock, on_readable)
        trio.lowlevel.add_instrument(counter)
        await trio.testing.wait_all_tasks_blocked()  # the driver has parked
        counter.watcher_steps = 0
        peer.send(b"x")
        with trio.fail_after(10):
            await aio_as_trio(done)
    return counter.watcher_steps


@pytest.mark.parametrize("driver", _drivers())
def test_an_fd_that_stays_ready_wakes_its_watcher_a_bounded_number_of_times(
    monkeypatch, driver, sock_with_peer
):
    """While the loop runs, an fd that stays ready is asyncio's to poll: the
    portable driver's watcher for it must not wake on every Trio pass."""
    monkeypatch.setenv("TRIOLOOP_DRIVER", driver)
    # The wake (the watcher runs the loop's batch, then hands over to the
    # driver), the re-arm, the wake while the loop still runs (then dormant
    # until the driver parks): 3; one Trio pass each would be 30+.
    assert trio.run(_ready_while_busy, *sock_with_peer) <= 4


# -- a batch run by a woken watcher --------------------------------------------


async def _a_reader_that_raises_system_exit() -> None:
    loop = asyncio.get_running_loop()
    fd, peer = socket.socketpair()
    try:

        def reader() -> None:
            fd.recv(1)  # raised once: the error must not be lost
            raise SystemExit("from a reader")

        loop.add_reader(fd, reader)
        # Sent once the loop sleeps: on the portable driver, the fd's
        # watcher is woken and runs the reader.
        sender = threading.Timer(0.05, peer.send, (b"x",))
        sender.start()
        await asyncio.sleep(10)
    finally:
        sender.join()
        loop.remove_reader(fd)
        fd.close()
        peer.close()


@pytest.mark.parametrize("driver", _drivers())
def test_an_exception_escaping_a_readers_callback_ends_the_run_as_itself(
    monkeypatch, driver, run, flavour
):
    """asyncio lets SystemExit and KeyboardInterrupt out of a callback; the
    portable driver runs fd callbacks in the woken watcher's Trio task, and
    must still end the run with the exception itself."""
    monkeypatch.setenv("TRIOLOOP_DRIVER", driver)
    with pytest.raises(SystemExit, match="from a reader"):
        run(_a_reader_that_raises_system_exit())


@pytest.mark.parametrize("driver", _drivers())
@pytest.mark.parametrize("flavour", ["asyncio", "trioloop"])
def test_a_stop_in_a_batch_a_watcher_runs_ends_run_forever_as_asyncios_does(
    monkeypatch, driver, flavour
):
    """``stop()`` ends ``run_forever`` after the iteration that called it,
    also when that iteration ran in a woken watcher's task (portable)."""
    monkeypatch.setenv("TRIOLOOP_DRIVER", driver)
    loop = new_stock_loop() if flavour == "asyncio" else trioloop.new_event_loop()
    fd, peer = socket.socketpair()
    ran: list[str] = []

    def reader() -> None:
        fd.recv(1)
        ran.append("reader")
        loop.call_soon(then, "stop")

    def then(what: str) -> None:
        ran.append(what)
        if what == "stop":
            loop.stop()
            loop.call_soon(then, "after stop")

    sender = threading.Timer(0.05, peer.send, (b"x",))
    try:
        loop.add_reader(fd, reader)
        sender.start()
        loop.run_forever()
        assert ran == ["reader", "stop"]
        loop.remove_reader(fd)
        loop.run_until_complete(asyncio.sleep(0))
        assert ran == ["reader", "stop", "after stop"]
    finally:
        sender.join()
        loop.close()
        fd.close()
        peer.close()
