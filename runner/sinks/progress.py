"""A live progress bar for a person at a terminal: done/total, counts by status, rate, ETA.

Only `api.run` imports this module, and only when stdout is a terminal. The bar is
one screen line at the bottom, drawn by this sink alone: no thread, no layout engine
(`bar.render` makes the line from numbers). The console writes its task lines through
`Progress.lines`; while the bar is live they wait, and on the runner's flushes (every
50 ms or sooner), at most every REFRESH_SECONDS, everything goes out in one write:
a carriage return and an erase of the bar's line, the task lines waiting, and the bar
drawn again below them. So the lines land above the bar in the order written, the
bar moves ten times a second with nothing else to do, and a hundred thousand lines
cost what they cost in a file, plus ten small writes a second. A stop redraws at once.
When the job ends the bar is drawn a last time with the run's final counts
(cancelled tasks included, which are counted without being journaled) and left on
screen; the console's summary follows below it. On a terminal that cannot move its
cursor (`TERM=dumb`) there is no live bar: the lines go out as they come.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from typing import TextIO

from runner.events import (
    JobFinished,
    JobStarted,
    Sink,
    SpanFinished,
    StopRequested,
    TaskFinished,
)
from runner.sinks.bar import State, render
from runner.sinks.terminal import Terminal, writer

REFRESH_SECONDS = 0.1
"""How often the bar is redrawn, and waiting task lines written above it, while it is live."""
RATE_SECONDS = 30.0
"""The rate (and the ETA) is measured over this last stretch of the run."""
_ERASE = "\r\x1b[2K"
_HIDE_CURSOR, _SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


class _Lines:
    """The console's stream: text written while the bar is live waits for the next
    draw; otherwise it goes out at once."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self.pending: list[str] = []

    def write(self, text: str) -> int:
        if self._progress.live:
            self.pending.append(text)
        else:
            self._progress.out.write(text)
        return len(text)

    def flush(self) -> None:
        self._progress.flush()


class Progress(Sink):
    """A Sink drawing a live bar; give `lines` to the console as its stream."""

    accepts_spans = True

    def __init__(self, stream: TextIO | None = None) -> None:
        self.out = stream or sys.stdout
        self.live = False
        self.lines = _Lines(self)
        self._drawable = os.environ.get("TERM", "") not in ("dumb", "unknown")
        self._color = not os.environ.get("NO_COLOR")
        self._title = ""
        self._job = ""
        self._total = 0
        self._counts: dict[str, int] = {}
        self._started = 0.0
        self._due = 0.0
        self._samples: deque[tuple[float, int]] = deque()
        self._terminal: Terminal | None = None
        self._finished = False

    def job_started(self, event: JobStarted) -> None:
        self._job = self._title = event.job
        self._total = event.total
        self._started = time.monotonic()
        if self._drawable:
            self.live = True
            self._terminal = writer(self.out)
            self._put(_HIDE_CURSOR)
            self._draw()

    def task_finished(self, event: TaskFinished) -> None:
        if event.final:
            status = event.outcome.status.value
            self._counts[status] = self._counts.get(status, 0) + 1

    def span_finished(self, event: SpanFinished) -> None:
        self._counts["ok"] = self._counts.get("ok", 0) + event.tasks

    def stopping(self, event: StopRequested) -> None:
        """The bar says it is stopping from its next draw, at once (the console prints
        the full message above it)."""
        what = "stopping now" if event.now else "stopping"
        self._title = f"{self._job} ({what}: {event.cause})"
        self.hurry()

    def job_finished(self, event: JobFinished) -> None:
        self._counts = dict(event.counts)
        self._finished = True
        self.close()

    def hurry(self) -> None:
        self._due = 0.0

    def flush(self) -> None:
        """Draw if the last draw is REFRESH_SECONDS old (or a stop hurried it)."""
        if self.live and time.monotonic() >= self._due:
            self._draw()
        elif not self.live:
            self.out.flush()

    def close(self) -> None:
        """Stop drawing (idempotent): the lines still waiting go out above the final bar,
        which stays on screen, and the terminal gets its cursor back (after an error too)."""
        if self.live:
            self.live = False
            terminal = self._terminal
            try:
                self._draw(self._finished)
                self._put("\n" + _SHOW_CURSOR)
            finally:
                self._terminal = None
                if terminal is not None:
                    terminal.close()

    def _draw(self, finished: bool = False) -> None:
        """One write: erase the bar, the waiting lines, the bar again."""
        now = time.monotonic()
        pending = self.lines.pending
        text = "".join(pending)
        pending.clear()
        line = render(self._state(now, finished), _columns(self.out), self._color)
        self._put(f"{_ERASE}{text}{line}")
        self._due = now + REFRESH_SECONDS

    def _put(self, text: str) -> None:
        if self._terminal is not None:
            self._terminal.write(text)
        else:
            self.out.write(text)
            self.out.flush()

    def _state(self, now: float, finished: bool) -> State:
        done = sum(self._counts.values())
        elapsed = now - self._started
        return State(self._title, done, self._total, self._counts, elapsed,
                     done / elapsed if finished and elapsed > 0 else self._rate(now, done),
                     finished)

    def _rate(self, now: float, done: int) -> float | None:
        """Tasks a second over the last RATE_SECONDS, from a sample per draw."""
        samples = self._samples
        samples.append((now, done))
        while now - samples[0][0] > RATE_SECONDS:
            samples.popleft()
        then, done_then = samples[0]
        return (done - done_then) / (now - then) if now > then and done > done_then else None


def _columns(stream: TextIO) -> int:
    """The terminal's width now (it may have been resized); 80 when it says none."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80
