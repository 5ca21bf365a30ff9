"""What the engine decided, told to the sinks as events, and counted.

The engine decides what an attempt's end means; the recorder only says it:
one TaskStarted per attempt, one TaskFinished per end (final or followed by a
retry), a SpanFinished for a run of tasks that all ended ok, and the counts
by status that make the summary and the exit code.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Sequence

from runner.engine.attempts import Attempt
from runner.errors import ExitCode
from runner.events import (
    JobFinished,
    JobStarted,
    OkRow,
    Outcome,
    Sink,
    SpanFinished,
    StopRequested,
    TaskFinished,
    TaskStarted,
    TaskStatus,
    signal_name,
)
from runner.jobfile.job import Job
from runner.journal.logfiles import Logs


class Recorder:
    def __init__(self, sinks: Sequence[Sink], job: Job, run_id: str, workers: int,
                 total: int, logs: Logs | None = None) -> None:
        self.sinks = list(sinks)
        self.job = job
        self.run_id = run_id
        self.workers = workers
        self.total = total
        self.counts = {status.value: 0 for status in TaskStatus}
        self.logs = logs
        self.claims: Callable[[int, int], dict[str, int]] | None = None
        """What attempt n of a task of entry e claims, when the job claims anything."""

    def job_started(self, started: float) -> None:
        event = JobStarted(started, self.job.job_name, self.run_id, os.getpid(),
                           socket.gethostname(), self.job.executor, self.workers,
                           self.job.mode, self.total, None)
        for sink in self.sinks:
            sink.job_started(event)

    def started(self, attempt: Attempt, outcome: Outcome | None = None) -> None:
        """The attempt's start: as seen running, or (a quick one) told with its end."""
        attempt.announced = True
        task, seen = attempt.task, attempt.running
        claims = self.claims(task.entry, attempt.number) if self.claims else None
        if seen is None:
            assert outcome is not None
            event = TaskStarted(outcome.started, task.id, task.name, task.index, task.values,
                                self._number(attempt), outcome.pid, outcome.ppid,
                                outcome.process_name, outcome.host, task.spec_hash, outcome,
                                claims)
        else:
            event = TaskStarted(seen.started, task.id, task.name, task.index, task.values,
                                self._number(attempt), seen.pid, seen.ppid, seen.process_name,
                                seen.host, task.spec_hash, None, claims)
        for sink in self.sinks:
            sink.task_started(event)

    def ended(self, attempt: Attempt, outcome: Outcome, retry_in: float | None = None) -> None:
        """The attempt's end; final unless a retry follows in `retry_in` seconds."""
        task, kept = attempt.task, None
        if self.logs is not None:  # checked before anything records the attempt
            outcome, kept = self.logs.finish(task.id, self._number(attempt), outcome)
        event = TaskFinished(outcome.finished, task.id, task.name, task.index, task.values,
                             attempt.seq, self._number(attempt), retry_in is None, outcome,
                             task.spec_hash, retry_in, kept,
                             self.claims(task.entry, attempt.number) if self.claims else None)
        for sink in self.sinks:
            sink.task_finished(event)
        if retry_in is None:
            self.counts[outcome.status] += 1  # a TaskStatus is its value as a dict key

    def _number(self, attempt: Attempt) -> int:
        """The attempt's number; with `logs:`, counted across the journal's runs."""
        if self.logs is None:
            return attempt.number
        return self.logs.number(attempt.task.id, attempt.number)

    def span(self, count: int, lines: str, seq: int, rows: Sequence[OkRow]) -> None:
        self.counts[TaskStatus.OK] += count
        event = SpanFinished(time.time(), count, lines, seq, rows)
        for sink in self.sinks:
            sink.span_finished(event)

    def cancelled_unjournaled(self, count: int) -> None:
        """Tasks never handed out are counted, not journaled one by one."""
        self.counts[TaskStatus.CANCELLED] += count

    def stopping(self, event: StopRequested) -> None:
        """Told at once, flushed with it: the person watching must not wait for it."""
        for sink in self.sinks:
            sink.stopping(event)
        self.flush()

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()

    def job_finished(self, started: float, signalled: int | None,
                     stopped_by: str | None = None) -> JobFinished:
        finished = time.time()
        event = JobFinished(finished, dict(self.counts), int(self._exit_code(signalled)),
                            finished - started, signal_name(signalled) if signalled else None,
                            stopped_by)
        for sink in self.sinks:
            sink.job_finished(event)
        return event

    def _exit_code(self, signalled: int | None) -> ExitCode:
        if signalled is not None:
            return ExitCode.SIGINT if signalled == signal.SIGINT else ExitCode.SIGTERM
        ok = self.counts[TaskStatus.OK] + self.counts[TaskStatus.SKIPPED]  # skipped: no failure
        return ExitCode.OK if ok == sum(self.counts.values()) else ExitCode.TASK_FAILED
