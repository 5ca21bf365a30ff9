"""`--json`: the journal's task_finished and job_finished lines, on a stream as they happen."""

from __future__ import annotations

from typing import Any

from runner.events import JobFinished, Sink, SpanFinished, TaskFinished
from runner.journal import format


class JsonLines(Sink):
    """A Sink writing the journal's task_finished and job_finished lines to `stream`."""

    accepts_spans = True

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def task_finished(self, event: TaskFinished) -> None:
        self.stream.write(format.finished_line(event))

    def span_finished(self, event: SpanFinished) -> None:
        self.stream.write("".join(line for line in event.lines.splitlines(keepends=True)
                                  if line.startswith(format.FINISHED_PREFIX)))

    def job_finished(self, event: JobFinished) -> None:
        self.stream.write(format.job_finished_line(event))

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()
