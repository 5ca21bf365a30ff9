"""The Python API's sink: each task's final record, for `RunResult.tasks`."""

from __future__ import annotations

from runner.events import JobFinished, Sink, TaskFinished


class Collector(Sink):
    """A Sink that keeps each task's final record, in the order tasks were admitted."""

    accepts_spans = False  # it keeps every task's record, so it needs them one by one

    def __init__(self) -> None:
        self.tasks: list[TaskFinished] = []

    def task_finished(self, event: TaskFinished) -> None:
        if event.final:
            self.tasks.append(event)

    def job_finished(self, event: JobFinished) -> None:
        self.tasks.sort(key=lambda t: t.seq)
