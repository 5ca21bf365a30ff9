"""`runner logs JOURNAL TASK [--attempt N]`: what one attempt of a task wrote.

The journal is streamed through runner.journal.reader; only the records of the
task asked for are kept. The task is named by its id or its rendered name. Its
whole files are printed when the run kept them (`logs:`), else the tails the
journal holds, under a header naming the task, its attempt, status and PID. An
attempt the journal records as started but not as ended (it is running, or its
run was killed) shows what its files hold so far; without `logs:` nothing of it
is kept until it ends, and the header says so.

A journal is data anyone could have edited, so a path it records is read only
when it is the very file the runner would have made there: in the logs folder
the run recorded, named after that task and attempt, and a regular file reached
without following a symbolic link. Anything else is refused in one line.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

from runner.errors import UsageError
from runner.journal import files, reader
from runner.journal.format import FINISHED_PREFIX, encode
from runner.journal.logfiles import file_safe
from runner.report.read import no_events

_FINISHED = FINISHED_PREFIX.encode()
_STARTED = b'{"event":"task_started"'
_JOB_STARTED = b'{"event":"job_started"'
_EVENT = b'{"event":"'
_CANDIDATES = 100_000
"""Distinct names and ids kept for a did-you-mean; a bigger journal suggests from these."""


class _Found:
    """The attempts of the task asked for, started or finished in journal order, with the
    logs folder of their run."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.needles = (encode(task)[1:-1].encode(),)
        self.records: list[tuple[dict[str, Any], str | None]] = []
        self.events = 0
        self.skipped = 0

    def attempts(self) -> list[tuple[dict[str, Any], str | None]]:
        """Each attempt's last word: its task_finished, or its task_started when no end
        was recorded."""
        ended = {(r.get("task"), r.get("attempt")) for r, _ in self.records
                 if r.get("event") == "task_finished"}
        return [(r, folder) for r, folder in self.records if r.get("event") == "task_finished"
                or (r.get("task"), r.get("attempt")) not in ended]

    def feed(self, line: bytes, folder: str | None) -> str | None:
        """Take one line; returns the logs folder of the run it belongs to from now on."""
        if not line.startswith(_EVENT):
            self.skipped += 1
            return folder
        self.events += 1
        if line.startswith(_JOB_STARTED):
            return _run_folder(line)
        if (line.startswith(_FINISHED) or line.startswith(_STARTED)) \
                and any(n in line for n in self.needles):
            record = _record(line)
            if record is not None and self.task in (record.get("task"), record.get("name")):
                self.records.append((record, folder))
        return folder


def logs_command(journal: Path, task: str, attempt: int | None) -> int:
    """Print the attempt (default: the task's latest) and return the exit code."""
    found = _read(journal, task).attempts()
    if not found:
        raise UsageError(f"no task {task!r} in the journal {journal}{_suggest(journal, task)}")
    by_id = [pair for pair in found if pair[0].get("task") == task]
    records = by_id or found  # an id names one task; a name may be shared
    ids = {record["task"] for record, _ in records}
    if len(ids) > 1:
        shown = ", ".join(sorted(ids)[:10])
        raise UsageError(f"{len(ids)} tasks are named {task!r} in {journal}: {shown}; "
                         "give the task's id")
    chosen = _chosen(records, attempt, task)
    out = sys.stdout.buffer
    _print(chosen[0], chosen[1], out)
    out.flush()
    return 0


def _read(journal: Path, task: str) -> _Found:
    found = _Found(task)
    folder: str | None = None
    with reader.reading(journal) as lines:
        for _, line in lines:
            folder = found.feed(line, folder)
    if found.events == 0:
        raise no_events(journal, found.skipped, lines.torn_bytes)
    return found


def _chosen(records: list[tuple[dict[str, Any], str | None]], attempt: int | None,
            task: str) -> tuple[dict[str, Any], str | None]:
    """The latest record of the attempt asked for, or the latest of all."""
    if attempt is None:
        return records[-1]
    matching = [pair for pair in records if pair[0].get("attempt") == attempt]
    if not matching:
        numbers = sorted({n for r, _ in records if isinstance(n := r.get("attempt"), int)})
        raise UsageError(f"task {task!r} has no attempt {attempt} in the journal; its "
                         f"attempts: {', '.join(map(str, numbers))}")
    return matching[-1]


def _print(record: dict[str, Any], folder: str | None, out: BinaryIO) -> None:
    name, ident = record.get("name"), record.get("task")
    label = f"{name} ({ident})" if name != ident else str(ident)
    ended = record.get("event") == "task_finished"
    status = record.get("status") if ended else "no end recorded (running, or its run died)"
    out.write(f"== {label} · attempt {record.get('attempt')} · {status} · "
              f"pid {record.get('pid')} ==\n".encode())
    error = record.get("error")
    if isinstance(error, dict):
        out.write(f"error: {error.get('type')}: {error.get('message')}\n".encode())
    for stream in ("stdout", "stderr"):
        path = record.get(f"{stream}_path") if ended else _expected(folder, record, stream)
        fd = None if path is None else _open_kept(path, folder, record, stream)
        if fd is not None:
            so_far = "" if ended else ", so far"
            out.write(f"-- {stream} (whole file {path}{so_far}) --\n".encode())
            last = _copy(fd, out)
        elif ended:
            gone = "" if path is None else f"; the whole file {path} is gone"
            out.write(f"-- {stream} (tail kept in the journal{gone}) --\n".encode())
            text = record.get(stream)
            data = text.encode("utf-8", "replace") if isinstance(text, str) else b""
            out.write(data)
            last = data[-1:]
        else:  # nothing of a running attempt is in the journal yet
            kept = "its file is not there" if path else "the run keeps no logs: its tail " \
                "is journaled when the attempt ends"
            out.write(f"-- {stream} ({kept}) --\n".encode())
            continue
        if last not in (b"", b"\n"):
            out.write(b"\n")


def _expected(folder: str | None, record: dict[str, Any], stream: str) -> str | None:
    """The file the run makes for this attempt's stream: None without `logs:`."""
    suffix = ".out" if stream == "stdout" else ".err"
    task, attempt = record.get("task"), record.get("attempt")
    return (os.path.join(folder, f"{file_safe(task)}.{attempt}{suffix}")
            if isinstance(folder, str) and isinstance(task, str) and type(attempt) is int
            else None)


def _open_kept(path: object, folder: str | None, record: dict[str, Any],
               stream: str) -> int | None:
    """A descriptor on the recorded file, None when it is gone; UsageError when the journal
    names a file the run would not have made (see the module docstring)."""
    task = record.get("task")
    if not isinstance(path, str) or path != _expected(folder, record, stream):
        raise UsageError(f"refused: the journal says the {stream} of {task!r} is {path!r}, "
                         "which is not a file this run's logs folder would hold")
    try:
        fd = files.open_peeking(Path(path))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise UsageError(f"refused: the log file {path} is a symbolic link") from None
        raise UsageError(f"cannot read the log file {path}: {exc.strerror}") from None
    if fd is None:
        raise UsageError(f"refused: the log file {path} is not a regular file")
    return fd


def _copy(fd: int, out: BinaryIO) -> bytes:
    """Copy the file to `out` in bounded chunks; its last byte (b"" when empty)."""
    last = b""
    with os.fdopen(fd, "rb") as source:
        while chunk := source.read(1 << 20):
            out.write(chunk)
            last = chunk[-1:]
    return last


def _run_folder(line: bytes) -> str | None:
    record = _record(line)
    folder = record.get("logs") if record is not None else None
    return folder if isinstance(folder, str) else None


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _suggest(journal: Path, task: str) -> str:
    """`; did you mean ...?` from the names and ids the journal records, or `` when none
    is close."""
    names: set[str] = set()
    with reader.reading(journal) as lines:
        for _, line in lines:
            if len(names) >= _CANDIDATES:
                break
            if line.startswith(_FINISHED) or line.startswith(_STARTED):
                record = _record(line)
                if record is not None:
                    names.update(v for v in (record.get("task"), record.get("name"))
                                 if isinstance(v, str))
    close = difflib.get_close_matches(task, names, n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""

