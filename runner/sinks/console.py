"""What a person watching sees: one line per finished task, in task order, then a summary.

Results are printed in the order tasks were admitted, like the seed's
transcripts and GNU parallel's `--keep-order`, while the journal streams them
as they complete; `--order finish` prints each as it ends instead (CI logs, where
a slow first task must not hold back a later failure). In task order, a finished
task waits in a small buffer until every task before it has finished; if one task
holds up more than `REORDER_LIMIT` others, the buffer is flushed out of order (and
says so) rather than grow without bound. Retries are announced as they happen, and
so is a stop (a signal, `max_failures`), the moment it is decided: what happens to
the running and the queued tasks, so nobody presses Ctrl-C twice for want of an answer.
"""

from __future__ import annotations

import sys
from typing import Protocol

from runner.events import (
    JobFinished,
    JobStarted,
    OkRow,
    Sink,
    SpanFinished,
    StopRequested,
    TaskFinished,
    TaskStatus,
    shown_name,
)

REORDER_LIMIT = 10_000
OUTPUT_LINES = 10
_MARKS = {
    TaskStatus.OK: "✓",
    TaskStatus.FAILED: "✗",
    TaskStatus.TIMEOUT: "⏱",
    TaskStatus.CRASHED: "☠",
    TaskStatus.INTERRUPTED: "■",
    TaskStatus.CANCELLED: "-",
    TaskStatus.SKIPPED: "↷",
}


class Stream(Protocol):
    """Where lines go: a text file, or the progress bar's printer (lines above the bar)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class Console(Sink):
    """A Sink that prints task lines in order and a summary; `quiet` prints the summary only."""

    def __init__(self, stream: Stream | None = None, *, quiet: bool = False,
                 order: str = "plan") -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.in_plan_order = order == "plan"  # else `finish`: each task as it ends
        self.accepts_spans = True  # a span's ok tasks come as rows (see span_finished)
        self.span_rows = not quiet
        self._next = 0
        self._waiting: dict[int, str] = {}
        self._out: list[str] = []
        self._started: JobStarted | None = None
        self._journal: str | None = None

    def describe_journal(self, path: str | None) -> None:
        self._journal = path

    def job_started(self, event: JobStarted) -> None:
        self._started = event
        if not self.quiet:
            self._out.append(f"{event.job}: {event.total} task(s) on {event.executor} "
                             f"({event.mode}, {event.workers} workers), runner pid {event.pid}\n")
            self.flush()

    def task_finished(self, event: TaskFinished) -> None:
        if self.quiet:
            return
        if not event.final:
            self._out.append(f"↻ {event.outcome.status.value:<11} {display_name(event)} "
                             f"attempt {event.attempt} failed; retrying in "
                             f"{event.retry_in:g}s\n")
            return
        if not self.in_plan_order:
            self._out.append(format_task(event))
            return
        self._waiting[event.seq] = format_task(event)
        self._release()

    def span_finished(self, event: SpanFinished) -> None:
        """The ok tasks of a span, from the rows its worker sent: each waits for its turn
        like any task, as the line `format_task` would make of it."""
        if self.quiet:
            return
        if not self.in_plan_order:
            self._out += [format_row(row) for row in event.rows]
            return
        first, waiting = event.seq, self._waiting
        for row in event.rows:
            waiting[first + row[0]] = format_row(row)
        self._release()

    def _release(self) -> None:
        """Print the lines whose turn has come; flush out of order past REORDER_LIMIT."""
        while self._next in self._waiting:
            self._out.append(self._waiting.pop(self._next))
            self._next += 1
        if len(self._waiting) > REORDER_LIMIT:
            self._out.append(f"(printing {len(self._waiting)} results out of order: task "
                             f"#{self._next} is still running)\n")
            self._next = max(self._next, max(self._waiting) + 1)
            self._flush_waiting()

    def _flush_waiting(self) -> None:
        """Every held result, in order, gaps and all."""
        for seq in sorted(self._waiting):
            self._out.append(self._waiting.pop(seq))

    def job_finished(self, event: JobFinished) -> None:
        self._flush_waiting()
        counts = ", ".join(f"{n} {status}" for status, n in event.counts.items() if n)
        total = sum(event.counts.values())
        line = f"{total} task(s): {counts or 'nothing to do'} in {event.duration:.2f}s"
        if event.stopped_by:
            line += f"; stopped by {event.stopped_by}"
        self._out.append(line + f"; exit code {event.exit_code}\n")
        if self._journal:
            self._out.append(f"journal: {self._journal}\n")
        self.flush()

    def stopping(self, event: StopRequested) -> None:
        """Said at once, out of task order, quiet or not: it answers a Ctrl-C."""
        self._out.append(f"■ {stop_message(event)}\n")
        self.flush()

    def flush(self) -> None:
        if self._out:
            self.stream.write("".join(self._out))
            self._out.clear()
            self.stream.flush()

    def close(self) -> None:
        self.flush()


class StopNotice(Sink):
    """What a run with no console (`--json`) says when it stops early, on stderr: only
    that, so the JSON on stdout stays JSON."""

    accepts_spans = True

    def __init__(self, stream: Stream | None = None) -> None:
        self.stream = stream or sys.stderr

    def stopping(self, event: StopRequested) -> None:
        self.stream.write(f"runner: {stop_message(event)}\n")
        self.stream.flush()


def stop_message(event: StopRequested) -> str:
    """`stopping (SIGINT): waiting for 2 running tasks, cancelling 4 queued tasks;
    Ctrl-C again to stop them now`."""
    if event.now:
        return f"stopping now ({event.cause}): killing {_tasks(event.running, 'running')}"
    done = []
    if event.running:
        done.append(f"stopping {_tasks(event.running, 'running')} now" if event.stop_running
                    else f"waiting for {_tasks(event.running, 'running')}")
    if event.queued:
        done.append(f"cancelling {_tasks(event.queued, 'queued')}" if event.cancel_queued
                    else f"running {_tasks(event.queued, 'queued')} first")
    message = f"stopping ({event.cause}): {', '.join(done) or 'nothing left to do'}"
    if event.again and (event.running or not event.cancel_queued):
        message += f"; {event.again} to stop them now"
    return message


def _tasks(count: int, kind: str) -> str:
    return f"{count} {kind} task{'' if count == 1 else 's'}"


def format_task(event: TaskFinished) -> str:
    """`✓ ok          kitty1  pid 4242 ppid 4240  1.00s  → 1`, then the output's last lines."""
    outcome = event.outcome
    status = outcome.status
    duration = outcome.finished - outcome.started
    where = f"pid {outcome.pid} ppid {outcome.ppid}" if outcome.pid else "never started"
    line = f"{_MARKS[status]} {status.value:<11} {display_name(event)}  {where}  {duration:.2f}s"
    if outcome.result is not None:
        line += f"  → {_shorten(outcome.result)}"
    elif outcome.exit_code is not None:
        line += f"  exit {outcome.exit_code}"
    if outcome.error is not None and status is not TaskStatus.OK:
        line += f"  {outcome.error.type}: {_shorten(outcome.error.message)}"
    if event.attempt > 1:
        line += f"  (attempt {event.attempt})"
    return line + "\n" + _output(outcome.stdout) + _output(outcome.stderr)


_OK_LINE = f"{_MARKS[TaskStatus.OK]} {TaskStatus.OK.value:<11} "


def format_row(row: OkRow) -> str:
    """`format_task` of a task that ended ok at its first attempt, made from a span's row
    without building its events (a hundred thousand of them cost a second)."""
    _, task, name, pid, ppid, seconds, result, stdout, stderr = row
    line = f"{_OK_LINE}{shown_name(task, name)}  pid {pid} ppid {ppid}  {seconds:.2f}s"
    if result is not None:
        line += f"  → {_shorten(result)}"
    if stdout or stderr:
        return line + "\n" + _output(stdout) + _output(stderr)
    return line + "\n"


def display_name(event: TaskFinished) -> str:
    return shown_name(event.task, event.name)


def _output(text: str) -> str:
    if not text.strip():
        return ""
    lines = text.rstrip("\n").splitlines()[-OUTPUT_LINES:]
    return "".join(f"    │ {line}\n" for line in lines)


def _shorten(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
