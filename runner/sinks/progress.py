"""A live progress bar for a person at a terminal: done/total, counts by status, rate, ETA.

Only `api.run` imports this module, and only when stdout is a terminal, so
rich is never loaded for `--help`, `validate`, pipes or `--json`. The
console's task lines must not tear the bar: the console writes through
`Progress.lines`, which prints via rich's console, and rich draws them above
the live bar. The bar is updated once per burst of events (at `flush`), not
once per task, and redrawn by rich's own refresh thread a few times a second;
task lines go out together at most ten times a second, since each write redraws
the bar too (a stop's message goes out at once).
When the job ends the bar is drawn a last time with the run's final counts
(cancelled tasks included, which are counted without being journaled) and
left on screen; the console's summary follows below it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console as RichConsole
from rich.console import ConsoleOptions, RenderResult
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.progress import Task as RichTask
from rich.segment import Segment
from rich.text import Text

from runner.events import (
    JobFinished,
    JobStarted,
    Sink,
    SpanFinished,
    StopRequested,
    TaskFinished,
    TaskStatus,
)

_STYLES = {
    TaskStatus.OK.value: "green",
    TaskStatus.FAILED.value: "red",
    TaskStatus.TIMEOUT.value: "yellow",
    TaskStatus.CRASHED.value: "magenta",
    TaskStatus.INTERRUPTED.value: "cyan",
    TaskStatus.CANCELLED.value: "dim",
    TaskStatus.SKIPPED.value: "dim",
}


class _Rate(ProgressColumn):
    """Tasks per second over rich's recent samples (its speed estimate)."""

    def render(self, task: RichTask) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- tasks/s" if speed is None else f"{speed:,.1f} tasks/s", style="blue")


class _Verbatim:
    """Text that rich writes as it is. Its own rendering (`Console.out`) measures the
    width of every character, 27 µs a task line: more than the task, when tasks are
    trivial. The terminal wraps long lines itself, and the bar's place does not depend
    on them."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: RichConsole, options: ConsoleOptions) -> RenderResult:
        yield Segment(self.text)


LINES_SECONDS = 0.1
"""While the bar is live, task lines are written at most this often: each write redraws
the bar below them, which costs more than a hundred lines of text."""


class _Lines:
    """A text stream that prints through rich, so the console's lines land above the bar.
    Lines written while the bar is live are gathered and go out together, on a flush at
    least LINES_SECONDS after the last (the runner flushes every 50 ms or sooner)."""

    def __init__(self, console: RichConsole) -> None:
        self._console = console
        self._pending: list[str] = []
        self._due = 0.0
        self.live = False

    def write(self, text: str) -> int:
        self._pending.append(text)
        if not self.live:
            self.emit()
        return len(text)

    def flush(self) -> None:
        if self._pending and time.monotonic() >= self._due:
            self.emit()
        self._console.file.flush()

    def hurry(self) -> None:
        """The next flush writes at once: what follows answers a person (a stop)."""
        self._due = 0.0

    def emit(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._console.print(_Verbatim(text), end="", crop=False)
            self._due = time.monotonic() + LINES_SECONDS


class Progress(Sink):
    """A Sink drawing a live bar; give `lines` to the console as its stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._console = RichConsole(file=stream or sys.stdout)
        self._bar = RichProgress(
            TextColumn("{task.description}", style="bold", markup=False), BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"), _Rate(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(),
            console=self._console, redirect_stdout=False, redirect_stderr=False)
        self._task: TaskID | None = None
        self._job = ""
        self._counts: dict[str, int] = {}
        self._changed = False
        self.lines = _Lines(self._console)

    def job_started(self, event: JobStarted) -> None:
        self._job = event.job
        self._task = self._bar.add_task(event.job, total=event.total, counts="")
        self._bar.start()
        self.lines.live = True

    def task_finished(self, event: TaskFinished) -> None:
        if event.final:
            status = event.outcome.status.value
            self._counts[status] = self._counts.get(status, 0) + 1
            self._changed = True

    accepts_spans = True

    def span_finished(self, event: SpanFinished) -> None:
        self._counts["ok"] = self._counts.get("ok", 0) + event.tasks
        self._changed = True

    def stopping(self, event: StopRequested) -> None:
        """The bar says it is stopping, redrawn now rather than at rich's next refresh
        (the console prints the full message above it)."""
        if self._task is not None:
            what = "stopping now" if event.now else "stopping"
            self._bar.update(self._task, description=f"{self._job} ({what}: {event.cause})")
            self._bar.refresh()
        self.lines.hurry()

    def job_finished(self, event: JobFinished) -> None:
        self._counts = dict(event.counts)
        self._changed = True
        self.flush()
        self.close()

    def flush(self) -> None:
        self.lines.flush()
        if self._changed and self._task is not None:
            self._changed = False
            self._bar.update(self._task, completed=sum(self._counts.values()),
                             counts=counts_markup(self._counts))

    def close(self) -> None:
        """Stop drawing (idempotent): lines still gathered go out first, and after an
        error the terminal must get its cursor back."""
        self.lines.emit()
        self.lines.live = False
        self._bar.stop()


def counts_markup(counts: dict[str, int]) -> str:
    """`[green]8 ok[/] [red]1 failed[/]`: the statuses seen so far, in TaskStatus order."""
    return " ".join(f"[{_STYLES[status.value]}]{counts[status.value]} {status.value}[/]"
                    for status in TaskStatus if counts.get(status.value))
