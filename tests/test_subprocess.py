"""Subprocesses: ``create_subprocess_exec``/``_shell`` with every kind of
stdio, ``communicate``, ``wait``, signals, pipes that outlive the process (and
the reverse), many children at once, and no zombies left behind.

trioloop watches children with pidfds on its own selector instead of
asyncio's child watchers; these tests hold it to asyncio's behaviour.
Every test body runs on stock asyncio and on trioloop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from asyncio.subprocess import DEVNULL, PIPE, STDOUT

import pytest
from _support import within

if sys.platform == "win32":
    pytest.skip(
        "subprocesses: asyncio's Windows selector loop has none (NotImplementedError, tests/test_platform.py)",
        allow_module_level=True,
    )


@pytest.fixture(autouse=True)
def no_zombies():
    """Every child this test started has been reaped when it ends."""
    yield
    try:
        pid, status = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return  # no children at all
    assert pid == 0, f"child {pid} was left for someone else to reap (status {status})"
    pytest.fail("a child process is still running after the test")


def sh(script, *args, **kwargs):
    return asyncio.create_subprocess_exec(
        "/bin/sh", "-c", script, "sh", *args, **kwargs
    )


def test_exec_with_pipes_and_returncode(run):
    async def main():
        proc = await sh("echo out; echo err >&2; exit 3", stdout=PIPE, stderr=PIPE)
        assert proc.stdin is None
        assert proc.pid > 0
        out, err = await within(proc.communicate())
        assert (out, err, proc.returncode) == (b"out\n", b"err\n", 3)

    run(main())


def test_shell(run):
    async def main():
        proc = await asyncio.create_subprocess_shell(
            "echo $((6 * 7)) && exit 4", stdout=PIPE
        )
        out, err = await within(proc.communicate())
        assert (out, err, proc.returncode) == (b"42\n", None, 4)

    run(main())


def test_devnull(run):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            "cat", stdin=DEVNULL, stdout=PIPE, stderr=DEVNULL
        )
        assert proc.stdin is None and proc.stderr is None
        assert await within(proc.stdout.read()) == b""
        assert await within(proc.wait()) == 0

        proc = await sh("echo discarded", stdout=DEVNULL)
        assert proc.stdout is None
        assert await within(proc.communicate()) == (None, None)

    run(main())


def test_stderr_to_stdout(run):
    async def main():
        proc = await sh(
            "echo one; echo two >&2; echo three", stdout=PIPE, stderr=STDOUT
        )
        assert proc.stderr is None
        out, _ = await within(proc.communicate())
        assert out == b"one\ntwo\nthree\n"

    run(main())


def test_stdio_to_fds_and_files(run):
    async def main():
        r, w = os.pipe()
        try:
            proc = await sh("echo to-an-fd", stdout=w)
            os.close(w)
            w = -1
            assert await within(proc.wait()) == 0
            assert os.read(r, 100) == b"to-an-fd\n"
        finally:
            os.close(r)
            if w != -1:
                os.close(w)

        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as inp:
            inp.write(b"from a file\n")
            inp.seek(0)
            proc = await asyncio.create_subprocess_exec("cat", stdin=inp, stdout=out)
            assert await within(proc.wait()) == 0
            out.seek(0)
            assert out.read() == b"from a file\n"

    run(main())


def test_pass_fds(run):
    async def main():
        r, w = os.pipe()
        try:
            proc = await sh('echo via-pass-fds > "/dev/fd/$1"', str(w), pass_fds=(w,))
            assert await within(proc.wait()) == 0
            assert os.read(r, 100) == b"via-pass-fds\n"
        finally:
            os.close(r)
            os.close(w)

    run(main())


def test_communicate_megabytes_through_cat(run):
    async def main():
        payload = os.urandom(8 * 1024 * 1024)
        proc = await asyncio.create_subprocess_exec("cat", stdin=PIPE, stdout=PIPE)
        out, _ = await within(proc.communicate(payload), 30)
        assert out == payload
        assert proc.returncode == 0

    run(main())


def test_stdin_write_drain_close_while_reading(run):
    async def main():
        proc = await asyncio.create_subprocess_exec("cat", stdin=PIPE, stdout=PIPE)
        chunk = os.urandom(256 * 1024)

        async def feed():
            for _ in range(16):
                proc.stdin.write(chunk)
                await proc.stdin.drain()
            proc.stdin.close()
            await proc.stdin.wait_closed()

        _, out = await within(asyncio.gather(feed(), proc.stdout.read()))
        assert out == chunk * 16
        assert await within(proc.wait()) == 0

    run(main())


def test_wait_and_returncode(run):
    async def main():
        proc = await asyncio.create_subprocess_exec("sleep", "0.2")
        assert proc.returncode is None
        waiting = asyncio.ensure_future(proc.wait())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        assert await within(waiting) == 0
        assert proc.returncode == 0
        assert await within(proc.wait()) == 0  # waiting again returns at once

    run(main())


def test_cancelled_wait_then_wait_again(run):
    async def main():
        proc = await asyncio.create_subprocess_exec("sleep", "30")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), 0.05)
        assert proc.returncode is None
        proc.kill()
        assert await within(proc.wait()) == -signal.SIGKILL

    run(main())


@pytest.mark.parametrize(
    ("method", "signum"), [("terminate", signal.SIGTERM), ("kill", signal.SIGKILL)]
)
def test_terminate_and_kill(run, method, signum):
    async def main():
        proc = await asyncio.create_subprocess_exec("sleep", "30")
        getattr(proc, method)()
        assert await within(proc.wait()) == -signum

    run(main())


def test_send_signal_to_a_child_that_handles_it(run):
    async def main():
        code = (
            "import signal, sys, time\n"
            "signal.signal(signal.SIGUSR1, lambda *a: sys.exit(7))\n"
            "print('ready', flush=True)\n"
            "time.sleep(30)\n"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, stdout=PIPE
        )
        assert await within(proc.stdout.readline()) == b"ready\n"
        proc.send_signal(signal.SIGUSR1)
        assert await within(proc.wait()) == 7
        assert await within(proc.stdout.read()) == b""

    run(main())


def test_signal_after_the_child_is_gone(run):
    async def main():
        proc = await asyncio.create_subprocess_exec("true")
        assert await within(proc.wait()) == 0
        # Right after wait(), whether the transport has finished (and so
        # kill() raises) depends on the Python version and on timing; one
        # step later it has, on every version.
        await asyncio.sleep(0)
        with pytest.raises(ProcessLookupError):
            proc.kill()

    run(main())


def test_child_exits_before_its_pipes_close(run):
    async def main():
        # The shell exits at once; a grandchild keeps stdout open a while.
        proc = await sh("(sleep 0.3; echo late) & echo early", stdout=PIPE)
        out, _ = await within(proc.communicate())
        assert out == b"early\nlate\n"
        assert proc.returncode == 0

    run(main())


def test_child_closes_its_pipes_before_exiting(run):
    async def main():
        proc = await sh("exec >&- 2>&-; sleep 0.3; exit 5", stdout=PIPE, stderr=PIPE)
        assert await within(proc.stdout.read()) == b""
        assert await within(proc.stderr.read()) == b""
        assert proc.returncode is None  # EOF came first, the exit later
        assert await within(proc.wait()) == 5

    run(main())


def test_fifty_concurrent_children(run):
    async def main():
        async def one(i):
            proc = await sh('echo "$1"; exit $(($1 % 7))', str(i), stdout=PIPE)
            out, _ = await proc.communicate()
            return out, proc.returncode

        results = await within(asyncio.gather(*(one(i) for i in range(50))), 30)
        assert results == [(f"{i}\n".encode(), i % 7) for i in range(50)]

    run(main())


def test_missing_program(run):
    async def main():
        with pytest.raises(FileNotFoundError):
            await asyncio.create_subprocess_exec(
                "/nonexistent/trioloop-test", stdout=PIPE
            )

    run(main())


def test_subprocess_protocol_callbacks(run):
    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        class Protocol(asyncio.SubprocessProtocol):
            def __init__(self):
                self.events = []
                self.output = {1: b"", 2: b""}

            def connection_made(self, transport):
                self.events.append("made")

            def pipe_data_received(self, fd, data):
                self.output[fd] += data

            def pipe_connection_lost(self, fd, exc):
                self.events.append(f"pipe {fd} lost")

            def process_exited(self):
                self.events.append("exited")

            def connection_lost(self, exc):
                self.events.append("lost")
                done.set_result(exc)

        transport, protocol = await loop.subprocess_exec(
            Protocol, "/bin/sh", "-c", "echo out; echo err >&2; exit 2",
            stdin=None, stdout=PIPE, stderr=PIPE,
        )  # fmt: skip
        assert await within(done) is None
        assert protocol.output == {1: b"out\n", 2: b"err\n"}
        assert protocol.events[0] == "made" and protocol.events[-1] == "lost"
        assert sorted(protocol.events[1:-1]) == ["exited", "pipe 1 lost", "pipe 2 lost"]
        assert transport.get_returncode() == 2
        assert transport.get_pid() > 0
        transport.close()

    run(main())


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads Linux's /proc/<pid>/stat"
)
def test_no_child_left_in_proc(run):
    async def main():
        procs = [await asyncio.create_subprocess_exec("true") for _ in range(5)]
        for proc in procs:
            await within(proc.wait())

    run(main())
    # Belt and braces beside no_zombies: /proc lists no child of ours at all.
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            assert fields[1] != me, f"process {entry} (state {fields[0]}) is our child"
