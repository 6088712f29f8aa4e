"""The driver blocking in its own selector while Trio is idle (``_idle``).

While asyncio waits and no Trio task can run, the driver blocks directly
instead of parking in Trio.  These tests check that it really does (so a
Trio upgrade that turns it off is noticed), and that nothing Trio is owed
is lost meanwhile: Trio I/O, Trio deadlines, calls from threads,
``wait_all_tasks_blocked``, an instrument that watches Trio's I/O waits.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import trio
import trio.testing
from _support import loop_driver

import trioloop
from trioloop import aio_as_trio

ROUND_TRIPS = 200

pytestmark = pytest.mark.skipif(
    loop_driver() != "epoll",
    reason=f"blocking in place is the epoll driver's; this run's is {loop_driver()}",
)


def _echo_peer(sock: socket.socket) -> threading.Thread:
    """Echo everything back from a thread, a little later (so the loop has
    to wait for every reply)."""

    def serve() -> None:
        with sock:
            while data := sock.recv(4096):
                time.sleep(0.0005)
                sock.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


async def _ping_pong(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    for i in range(ROUND_TRIPS):
        message = b"%08d" % i
        await loop.sock_sendall(sock, message)
        got = b""
        while len(got) < len(message):
            got += await loop.sock_recv(sock, 64)
        assert got == message


class _DriverSteps(trio.abc.Instrument):
    """Counts the Trio steps of the loop's driver task."""

    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task.name == "trioloop._hosted._Driver.run":
            self.steps += 1


class _WatchesIoWaits(_DriverSteps):
    def __init__(self) -> None:
        super().__init__()
        self.io_waits = 0

    def before_io_wait(self, timeout: float) -> None:
        self.io_waits += 1


def _exchange(instrument: _DriverSteps) -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    peer = _echo_peer(theirs)

    async def main() -> None:
        async with trioloop.open_loop():
            await aio_as_trio(_ping_pong)(ours)

    try:
        trio.run(main, instruments=[instrument])
    finally:
        ours.close()
        peer.join(5)


def test_driver_blocks_in_its_selector_while_trio_is_idle():
    # Each round trip needs one wake-up of the loop.  Parked in Trio, every
    # wake-up is at least one Trio step of the driver; blocking in place, the
    # driver goes on within the step it is in.
    steps = _DriverSteps()
    _exchange(steps)
    assert steps.steps < ROUND_TRIPS / 2, steps.steps


def test_an_instrument_watching_io_waits_turns_it_off():
    # That instrument would see no I/O wait while the driver blocks, so the
    # driver parks in Trio instead: one Trio I/O wait per wake-up at least.
    watcher = _WatchesIoWaits()
    _exchange(watcher)
    assert watcher.steps >= ROUND_TRIPS
    assert watcher.io_waits >= ROUND_TRIPS


def _idle_asyncio_side(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    """An asyncio task waiting on nothing that will happen."""
    return loop.create_task(asyncio.sleep(3600))


def test_trio_io_reaches_a_trio_task_while_asyncio_is_idle():
    async def main() -> bytes:
        async with trioloop.open_loop() as loop:
            idle = _idle_asyncio_side(loop)
            ours, theirs = socket.socketpair()
            with trio.socket.from_stdlib_socket(ours) as a, theirs:
                timer = threading.Timer(0.05, theirs.send, (b"from a thread",))
                timer.start()
                try:
                    with trio.fail_after(10):
                        data = await a.recv(100)
                finally:
                    timer.join()
            idle.cancel()
            return data

    assert trio.run(main) == b"from a thread"


def test_trio_deadlines_are_kept_while_asyncio_is_idle():
    async def main() -> float:
        async with trioloop.open_loop() as loop:
            idle = _idle_asyncio_side(loop)
            start = time.monotonic()
            with trio.fail_after(10):
                await trio.sleep(0.05)
            idle.cancel()
            return time.monotonic() - start

    assert trio.run(main) >= 0.05


def test_a_thread_can_call_into_trio_while_asyncio_is_idle():
    async def main() -> str:
        async with trioloop.open_loop() as loop:
            idle = _idle_asyncio_side(loop)
            done = trio.Event()
            token = trio.lowlevel.current_trio_token()

            def from_thread() -> None:
                time.sleep(0.05)
                trio.from_thread.run_sync(done.set, trio_token=token)

            thread = threading.Thread(target=from_thread)
            thread.start()
            with trio.fail_after(10):
                await done.wait()
            thread.join()
            idle.cancel()
            return "called"

    assert trio.run(main) == "called"


def test_wait_all_tasks_blocked_returns_while_asyncio_is_idle():
    async def main() -> str:
        async with trioloop.open_loop() as loop:
            idle = _idle_asyncio_side(loop)
            with trio.fail_after(10):
                await trio.testing.wait_all_tasks_blocked()
            idle.cancel()
            return "returned"

    assert trio.run(main) == "returned"


def test_asyncio_timer_fires_on_time_while_blocked():
    async def wait_a_little() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(0.05)
        return loop.time() - start

    async def main() -> float:
        async with trioloop.open_loop():
            with trio.fail_after(10):
                return await aio_as_trio(wait_a_little)()

    assert 0.05 <= trio.run(main) < 5


@pytest.mark.parametrize("cancel_from", ["trio", "thread"])
def test_cancelling_the_block_from_outside_ends_it(cancel_from):
    # The hosting block is cancelled while its driver blocks: by a Trio
    # deadline, or by a thread through the Trio token.
    async def main() -> None:
        async with trioloop.open_loop() as loop:
            _idle_asyncio_side(loop)
            with trio.CancelScope() as scope:
                if cancel_from == "trio":
                    scope.deadline = trio.current_time() + 0.05
                else:
                    token = trio.lowlevel.current_trio_token()
                    threads.append(
                        threading.Timer(
                            0.05,
                            trio.from_thread.run_sync,
                            (scope.cancel,),
                            {"trio_token": token},
                        )
                    )
                    threads[0].start()
                await trio.sleep_forever()
            assert scope.cancelled_caught

    threads: list[threading.Thread] = []
    trio.run(main)
    for thread in threads:
        thread.join()
