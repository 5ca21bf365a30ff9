"""Journals written by hand, line by line, in the engine's format.

Each test states exactly the events it is about (a torn line, two runs, a
retry) instead of depending on what the engine happens to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.journal.format import iso

T0 = 1_800_000_000.0


class JournalWriter:
    """Builds a journal in the engine's format; times are seconds after T0."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []
        self.run_start = 0.0

    def add(self, record: dict[str, Any]) -> JournalWriter:
        self.lines.append(json.dumps(record) + "\n")
        return self

    def job_started(self, at: float = 0.0, *, run: str = "run1", mode: str = "async",
                    workers: int = 3, job: str = "demo") -> JournalWriter:
        self.run_start = at
        return self.add({"event": "job_started", "ts": iso(T0 + at), "job": job, "run": run,
                         "pid": 100, "host": "vm", "executor": "pool", "workers": workers,
                         "mode": mode, "tasks": 0})

    def attempt(self, name: str, start: float, end: float, *, pid: int, status: str = "ok",
                attempt: int = 1, final: bool = True, host: str = "vm",
                **extra: Any) -> JournalWriter:
        common = {"task": f"{name}-id", "name": name, "index": 0, "attempt": attempt,
                  "pid": pid, "ppid": 100, "process_name": f"ForkProcess-{pid}", "host": host}
        if pid:
            self.add({"event": "task_started", "ts": iso(T0 + start), **common})
        return self.add({"event": "task_finished", "ts": iso(T0 + end), **common,
                         "final": final, "status": status, "started": iso(T0 + start),
                         "finished": iso(T0 + end), "duration": round(end - start, 6), **extra})

    def job_finished(self, at: float, *, exit_code: int = 0,
                     counts: dict[str, int] | None = None) -> JournalWriter:
        return self.add({"event": "job_finished", "ts": iso(T0 + at), "counts": counts or {},
                         "exit_code": exit_code, "duration": at - self.run_start,
                         "interrupted_by": None})

    def write(self, tail: bytes = b"") -> Path:
        self.path.write_bytes("".join(self.lines).encode() + tail)
        return self.path


def resumed_five(journal: JournalWriter) -> Path:
    """A 5-task job (2 ok, 2 failed, 1 timeout) resumed once: the 3 that were not ok run
    again (1 ok, 2 timeout). 5 tasks, 8 attempts: 3 ok and 2 timeout by latest attempt."""
    journal.job_started(0, run="first")
    for name, status in [("a", "ok"), ("b", "ok"), ("c", "failed"), ("d", "failed"),
                         ("e", "timeout")]:
        journal.attempt(name, 0, 1, pid=11, status=status)
    journal.job_finished(2, exit_code=1)
    journal.job_started(10, run="second")
    for name, status in [("c", "ok"), ("d", "timeout"), ("e", "timeout")]:
        journal.attempt(name, 10, 11, pid=12, status=status)
    return journal.job_finished(12, exit_code=1, counts={"ok": 1, "timeout": 2}).write()
