"""The last part of what a task wrote, as the journal keeps it: read from the capture
files of callables and the pipes of commands into an Outcome's `stdout` / `stderr`.

A tail holds at most TAIL_BYTES bytes of output. One that had to be cut says so on
its first line, with the number of bytes left out, and starts at a line boundary when
the kept window has one, so it never begins in the middle of a line without saying so.
"""

from __future__ import annotations

import os
from collections import deque

TAIL_BYTES = 8192
"""The most a tail keeps of one stream; as text, never more characters than this."""

_MARK = "[... {:,} bytes cut ...]\n"
_MARK_ROOM = 64
"""Room kept for the mark: as long as it gets for any byte count a file can reach."""
_KEPT = TAIL_BYTES - _MARK_ROOM


def tail_text(data: bytes, total: int | None = None) -> str:
    """The tail of an output of `total` bytes (default: all of `data`), given its last
    bytes `data`; undecodable bytes replaced."""
    total = len(data) if total is None else total
    if total <= TAIL_BYTES and len(data) == total:
        return data.decode("utf-8", "replace")
    kept = data[-_KEPT:]
    newline = kept.find(b"\n", 0, len(kept) - 1)
    if newline >= 0:
        kept = kept[newline + 1:]
    else:  # no line to start at: at least never start inside a UTF-8 character
        start = 0
        while start < min(3, len(kept)) and 0x80 <= kept[start] < 0xC0:
            start += 1
        kept = kept[start:]
    return _MARK.format(total - len(kept)) + kept.decode("utf-8", "replace")


def read_tail(fd: int, size: int) -> str:
    """The tail of the first `size` bytes of an open file, read with one `pread`."""
    start = max(0, size - TAIL_BYTES)
    return tail_text(os.pread(fd, size - start, start), size)


class Tail:
    """The last TAIL_BYTES or so of a stream read in chunks, and how much it was in all."""

    __slots__ = ("chunks", "kept", "total")

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.kept = 0
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.kept += len(chunk)
        self.total += len(chunk)
        while len(self.chunks) > 1 and self.kept - len(self.chunks[0]) >= TAIL_BYTES:
            self.kept -= len(self.chunks.popleft())

    def text(self) -> str:
        if not self.total:  # most commands write nothing
            return ""
        return tail_text(b"".join(self.chunks)[-TAIL_BYTES:], self.total)
