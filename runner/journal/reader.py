"""Reading a journal back, as whole lines, in memory that does not grow with the file.

Resume, the report and `runner ps` read journals here. A last line without its
newline is what a writer killed mid-write leaves behind (a torn line): it is
measured and left out. A line longer than the limit (a task's result goes into
its line unbounded) is skipped without being held. What a line means, and what
a line that is not an event says about the file, is the caller's to decide.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from runner.errors import JournalError
from runner.journal import files

LINE_LIMIT = 64 * 1024 * 1024
OVERSIZED = b""
"""What stands for a line longer than the limit: a whole line is never empty."""


class Lines:
    """The whole lines of a journal stream as `(number, line)`, numbered from 1, each with
    its newline; a line longer than `limit` bytes (None: no limit) comes as OVERSIZED."""

    def __init__(self, stream: IO[bytes], limit: int | None = LINE_LIMIT) -> None:
        self._stream = stream
        self._limit = -1 if limit is None else limit
        self.torn_bytes = 0
        """The size of the torn last line, once the stream is read to its end."""

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        readline, limit = self._stream.readline, self._limit
        number = 0
        while line := readline(limit):
            number += 1
            if line.endswith(b"\n"):
                yield number, line
            elif limit < 0 or len(line) < limit:
                self.torn_bytes = len(line)
                return
            else:
                yield number, OVERSIZED
                while (rest := readline(limit)) and not rest.endswith(b"\n"):
                    pass


@contextlib.contextmanager
def reading(path: Path) -> Iterator[Lines]:
    """The lines of the journal at `path` (see files.open_reading for what it refuses);
    a failed read is a JournalError."""
    with files.open_reading(path) as stream:
        try:
            yield Lines(stream)
        except OSError as exc:
            raise JournalError(f"cannot read the journal {path}: {exc.strerror or exc}") \
                from None


def tail(path: Path, size: int) -> list[bytes]:
    """The whole lines within the last `size` bytes of the journal at `path`: the cost
    is the same on a million-line journal as on a short one. [] for what is not a
    regular file; OSError when it cannot be opened (see files.open_peeking)."""
    fd = files.open_peeking(path)
    if fd is None:
        return []
    try:
        length = os.lseek(fd, 0, os.SEEK_END)
        os.lseek(fd, max(0, length - size), os.SEEK_SET)
        data = os.read(fd, size)
    finally:
        os.close(fd)
    start = 0
    if length > size:  # the first line is cut in the middle
        start = data.find(b"\n") + 1
        if start == 0:
            return []
    return data[start:data.rfind(b"\n") + 1].splitlines(keepends=True)
