"""Writes to a terminal from a thread of its own, so the run does not wait for the terminal.

A write to a pseudo-terminal returns only once the program reading it (a terminal
emulator, `script`, tmux) has taken the bytes, a few kilobytes at a time: a hundred
thousand task lines, seven megabytes, kept the runner blocked in `write` for up to
a sixth of a busy machine's run, with its workers waiting for it. Here the runner
hands each draw's text to a writer thread and goes on; the thread encodes and
writes it, in order.
At most QUEUED draws wait: past that the runner waits too, so a terminal that reads
slowly (or is paused with Ctrl-S) holds back the run as a blocking write would, never
its memory. The thread writes the file descriptor with `os.write`, outside the stream's
buffer and its lock, so a process forked meanwhile never inherits that lock held. An
error writing (the terminal is gone) is raised in the runner at its next write.
"""

from __future__ import annotations

import queue
import threading
from typing import TextIO

from runner.system.atomic import write_all

QUEUED = 4
"""Draws that may wait for the terminal before the runner waits with them."""


class Terminal:
    """A stream's file descriptor, written by a thread; `write` and `close` are
    called by the runner's thread only."""

    def __init__(self, stream: TextIO) -> None:
        stream.flush()
        self._fd = stream.fileno()
        self._encoding = stream.encoding
        self._errors = stream.errors or "strict"
        self._queue: queue.Queue[str | None] = queue.Queue(QUEUED)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="runner-terminal",
                                        daemon=True)
        self._thread.start()

    def write(self, text: str) -> None:
        self._raise()
        self._queue.put(text)

    def close(self) -> None:
        """Wait for what was written to reach the terminal (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _drain(self) -> None:
        while (text := self._queue.get()) is not None:
            if self._error is None:
                try:
                    write_all(self._fd, text.encode(self._encoding, self._errors))
                except Exception as exc:  # raised in the runner instead
                    self._error = exc


def writer(stream: TextIO) -> Terminal | None:
    """A Terminal for `stream`, or None when it has no file descriptor (a StringIO)."""
    try:
        stream.fileno()
    except (AttributeError, ValueError, OSError):
        return None
    return Terminal(stream)
