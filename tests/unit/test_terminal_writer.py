"""The terminal's writer thread: everything written arrives, in order, by close; an error
writing is raised in the runner's thread; a stream without a descriptor gets none."""

from __future__ import annotations

import io
import os
import threading

import pytest

from runner.sinks.terminal import writer

pytestmark = pytest.mark.timeout(30)


def _reader(fd: int, into: bytearray) -> threading.Thread:
    def read() -> None:
        while chunk := os.read(fd, 65536):
            into.extend(chunk)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_every_write_arrives_in_order_by_close() -> None:
    read_end, write_end = os.pipe()
    got = bytearray()
    reading = _reader(read_end, got)
    with os.fdopen(write_end, "w", encoding="utf-8") as stream:
        terminal = writer(stream)
        assert terminal is not None
        chunks = [f"{n} ✓ {'x' * (n % 5000)}\n" for n in range(2000)]  # far past a pipe
        for chunk in chunks:
            terminal.write(chunk)
        terminal.close()
        terminal.close()  # idempotent
    reading.join(10)
    os.close(read_end)
    assert got.decode("utf-8") == "".join(chunks)


def test_an_error_writing_is_raised_in_the_runner() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: EPIPE
    with os.fdopen(write_end, "w", encoding="utf-8") as stream:
        terminal = writer(stream)
        assert terminal is not None
        terminal.write("lost\n")
        with pytest.raises(BrokenPipeError):
            terminal.close()


def test_a_stream_without_a_descriptor_has_no_writer() -> None:
    assert writer(io.StringIO()) is None
