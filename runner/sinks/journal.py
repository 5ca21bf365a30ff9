"""The journal sink: each event as its journal line, written once per burst of events.

Lines wait in memory only for the burst one loop iteration produces, then go
to the locked journal file in one write (see runner.journal.writer). A span's
lines come already rendered by the worker that ran it.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any, BinaryIO

from runner.errors import JournalError
from runner.events import JobFinished, JobStarted, Sink, SpanFinished, TaskFinished, TaskStarted
from runner.journal import format
from runner.journal.writer import JournalFile

_HOST = socket.gethostname()


class Journal(Sink):
    """A Sink that appends events to a JSON Lines file it holds locked."""

    accepts_spans = True

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self.resumes: str | None = None
        """The run this one continues (`--resume`), set before the run starts."""
        self.env: dict[str, Any] | None = None
        """Keyed digests of the env values (`Plan.env_record`), set before the run starts."""
        self.logs: str | None = None
        """The run's logs folder (`logs:`), set before the run starts."""
        self._pending: list[str] = []
        self._file = JournalFile(path, fsync=fsync)

    def reading(self) -> BinaryIO:
        """The journal for reading back while this run holds it: see JournalFile.reading."""
        return self._file.reading()

    def job_started(self, event: JobStarted) -> None:
        self._pending.append(format.job_started_line(event, _created(event.pid), self.resumes,
                                                     self.env, self.logs))
        self.flush()

    def task_started(self, event: TaskStarted) -> None:
        if event.outcome is None:
            self._pending.append(format.started_line(event, _seen_running(event)))
        else:
            self._pending.append(format.started_line(event))

    def task_finished(self, event: TaskFinished) -> None:
        self._pending.append(format.finished_line(event))

    def span_finished(self, event: SpanFinished) -> None:
        self._pending.append(event.lines)

    def job_finished(self, event: JobFinished) -> None:
        self._pending.append(format.job_finished_line(event))
        self.flush()

    def flush(self) -> None:
        if self._pending:
            data = "".join(self._pending).encode()
            self._pending.clear()
            self._file.write(data)

    def close(self) -> None:
        with contextlib.suppress(JournalError):
            self.flush()
        self._file.close()


def _seen_running(event: TaskStarted) -> float | None:
    """The create time of an attempt's process, for one seen running: with the PID it
    lets `--resume` kill a survivor without ever hitting a process that reused the PID.
    Looked up once per attempt that outlived a tick of the engine; an attempt announced
    together with its end needs none (both lines land in one write, and a finished
    attempt leaves nothing to kill). None on another host, or when the PID is gone or
    already belongs to a younger process."""
    from runner.system import procs

    return procs.created_before(event.pid, event.ts) if event.host == _HOST else None


def _created(pid: int) -> float | None:
    from runner.system import procs

    found = procs.identity(pid)
    return found[1] if found else None
