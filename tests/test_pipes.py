"""Pipe transports: ``connect_read_pipe``/``connect_write_pipe`` on
``os.pipe()`` and FIFOs, EOF, closing, flow control.  Every test body runs on
stock asyncio and on trioloop."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile

import pytest
from _support import Recorder, within

if sys.platform == "win32":
    pytest.skip(
        "pipes: asyncio's Windows selector loop has none (NotImplementedError, tests/test_platform.py)",
        allow_module_level=True,
    )


def _pipe_files():
    r, w = os.pipe()
    return open(r, "rb", buffering=0), open(w, "wb", buffering=0)


def test_read_pipe_data_then_eof(run):
    async def main():
        loop = asyncio.get_running_loop()
        reader, writer = _pipe_files()
        transport, protocol = await loop.connect_read_pipe(Recorder, reader)
        assert transport.get_extra_info("pipe") is reader
        writer.write(b"through the pipe")
        await protocol.until_received(16)
        writer.close()  # the last writer goes: EOF, then the transport closes
        await protocol.until_event("lost")
        assert protocol.events == ["made", "eof", "lost"]
        assert protocol.lost_exc is None
        assert reader.closed  # the transport closed its pipe

    run(main())


def test_write_pipe_to_read_pipe_megabytes(run):
    async def main():
        loop = asyncio.get_running_loop()
        reader, writer = _pipe_files()
        _, read_p = await loop.connect_read_pipe(Recorder, reader)
        write_t, write_p = await loop.connect_write_pipe(Recorder, writer)
        payload = os.urandom(4 * 1024 * 1024)
        write_t.write(payload)
        assert write_t.can_write_eof()
        write_t.write_eof()  # closes the pipe once the buffer is flushed
        await read_p.until_event("lost")
        assert read_p.data == payload
        await write_p.until_event("lost")
        assert write_p.lost_exc is None
        assert writer.closed

    run(main())


def test_write_pipe_notices_reader_closing(run):
    async def main():
        loop = asyncio.get_running_loop()
        reader, writer = _pipe_files()
        _, protocol = await loop.connect_write_pipe(Recorder, writer)
        reader.close()  # no buffered data: the transport just closes
        await protocol.until_event("lost")
        assert protocol.lost_exc is None
        assert writer.closed

    run(main())


def test_write_pipe_flow_control_and_broken_pipe(run):
    async def main():
        loop = asyncio.get_running_loop()
        reader, writer = _pipe_files()
        transport, protocol = await loop.connect_write_pipe(Recorder, writer)
        transport.set_write_buffer_limits(high=16 * 1024, low=4 * 1024)
        chunk = b"z" * 32 * 1024
        for _ in range(64):  # a pipe holds 64 KiB: the writer fills it quickly
            transport.write(chunk)
            if "pause_writing" in protocol.events:
                break
        assert "pause_writing" in protocol.events
        assert transport.get_write_buffer_size() > 16 * 1024
        # Drain a little: the buffer falls below the low-water mark.
        total = 0
        while "resume_writing" not in protocol.events:
            total += len(await loop.run_in_executor(None, reader.read, 1024 * 1024))
            await asyncio.sleep(0)
        assert protocol.events == ["made", "pause_writing", "resume_writing"]
        # Now the reader goes away with data still buffered: a broken pipe.
        transport.write(chunk * 8)
        reader.close()
        await protocol.until_event("lost")
        assert isinstance(protocol.lost_exc, BrokenPipeError)

    run(main())


def test_read_pipe_pause_and_resume_reading(run):
    async def main():
        loop = asyncio.get_running_loop()
        reader, writer = _pipe_files()
        transport, protocol = await loop.connect_read_pipe(Recorder, reader)
        transport.pause_reading()
        # (read pipe transports have is_reading() since 3.11 only)
        assert sys.version_info < (3, 11) or not transport.is_reading()
        writer.write(b"wait for it")
        await asyncio.sleep(0.05)
        assert protocol.data == b""
        transport.resume_reading()
        assert sys.version_info < (3, 11) or transport.is_reading()
        await protocol.until_received(11)
        writer.close()
        await protocol.until_event("lost")

    run(main())


def test_closing_read_pipe_transport(run):
    async def main():
        loop = asyncio.get_running_loop()
        reader, writer = _pipe_files()
        with writer:
            transport, protocol = await loop.connect_read_pipe(Recorder, reader)
            transport.close()
            assert transport.is_closing()
            await protocol.until_event("lost")
            assert protocol.events == ["made", "lost"]
            assert reader.closed
            with pytest.raises(BrokenPipeError):
                writer.write(b"nobody reads")

    run(main())


def test_fifo_both_ends(run):
    async def main():
        loop = asyncio.get_running_loop()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "fifo")
            os.mkfifo(path)
            # Non-blocking opens: the read end first, or the write end fails.
            # (the transports own and close these files)
            reader = open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0)  # noqa: ASYNC230, SIM115
            writer = open(os.open(path, os.O_WRONLY | os.O_NONBLOCK), "wb", buffering=0)  # noqa: ASYNC230, SIM115
            _, read_p = await loop.connect_read_pipe(Recorder, reader)
            write_t, write_p = await loop.connect_write_pipe(Recorder, writer)
            write_t.write(b"first in, first out")
            await read_p.until_received(19)
            write_t.close()
            await write_p.until_event("lost")
            await read_p.until_event("lost")
            assert read_p.events == ["made", "eof", "lost"]
            assert read_p.data == b"first in, first out"

    run(main())


def test_pipe_transports_refuse_regular_files(run):
    async def main():
        loop = asyncio.get_running_loop()
        with tempfile.TemporaryFile() as file:
            with pytest.raises(ValueError, match="pipes"):
                await loop.connect_read_pipe(Recorder, file)
            with pytest.raises(ValueError, match="pipes"):
                await loop.connect_write_pipe(Recorder, file)

    run(main())


def test_stream_reader_on_a_pipe(run):
    async def main():
        loop = asyncio.get_running_loop()
        reader_file, writer_file = _pipe_files()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), reader_file
        )
        writer_file.write(b"one\ntwo\n")
        writer_file.close()
        assert await within(reader.readline()) == b"one\n"
        assert await within(reader.read()) == b"two\n"
        assert reader.at_eof()

    run(main())
