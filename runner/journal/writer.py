"""The durable record of a run: JSON Lines, one event per line, written whole.

Flow: engine -> events -> **journal** (and later: report, --resume).

Lines are buffered only for the burst of events one loop iteration
produces, then written with a single `write` on an `O_APPEND` descriptor, so a
reader never sees half an event except at the very end of a file whose writer
was killed mid-write (`--resume` trims such a torn line). The journal itself is
locked while a run writes it, so a second run on the same journal fails fast
instead of interleaving, and no other file is made next to it. It is a POSIX
record lock, which a forked worker does not inherit: when the runner dies the
lock goes with it, so `--resume` can start at once and kill the survivors
itself. Closing any descriptor of a file drops this process's POSIX locks on
it, so the runner reads its journal back only through `Journal.reading`. A
write that fails (disk full, file too large) raises `JournalError`: the run
stops rather than claim success with records missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from runner.errors import JournalError
from runner.events import JobFinished, JobStarted, SpanFinished, TaskFinished, TaskStarted
from runner.journal import files as journal_file
from runner.journal import records

if TYPE_CHECKING:
    from runner.plan import PlannedTask

_encode_text = records.encode
iso = records.iso
_HOST = socket.gethostname()


class Journal:
    """A Sink that appends events to a JSON Lines file it holds locked."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self.resumes: str | None = None
        """The run this one continues (`--resume`), set before the run starts."""
        self.env: dict[str, Any] | None = None
        """Keyed digests of the env values (`Plan.env_record`), set before the run starts."""
        self._pending: list[str] = []
        if _file_id(path) in _HELD:  # checked before opening: see _HELD
            raise _in_use(path, str(os.getpid()))
        self._fd = journal_file.open_appending(path)
        self._id = _lock(path, self._fd)

    def reading(self) -> BinaryIO:
        """The journal for reading (and trimming) through the locked descriptor, which
        stays open when the stream is closed, and so does the lock."""
        return open(self._fd, "rb+", closefd=False)

    def job_started(self, event: JobStarted) -> None:
        self._line({"event": "job_started", "ts": iso(event.ts), "job": event.job,
                    "run": event.run_id, "pid": event.pid, "host": event.host,
                    "executor": event.executor, "workers": event.workers, "mode": event.mode,
                    "tasks": event.total, "pid_created": _created(event.pid),
                    **({"resumed": True, "resumes": self.resumes} if self.resumes else {}),
                    **({"env": self.env} if self.env else {})})
        self.flush()

    def task_started(self, event: TaskStarted) -> None:
        self._pending.append(started_line(event))

    def task_finished(self, event: TaskFinished) -> None:
        self._pending.append(finished_line(event))

    accepts_spans = True

    def span_finished(self, event: SpanFinished) -> None:
        self._pending.append(event.lines)

    def job_finished(self, event: JobFinished) -> None:
        self._pending.append(job_finished_line(event))
        self.flush()

    def _line(self, record: dict[str, Any]) -> None:
        self._pending.append(_encode_text(record) + "\n")

    def flush(self) -> None:
        if not self._pending:
            return
        data = "".join(self._pending).encode()
        self._pending.clear()
        try:
            written = os.write(self._fd, data)
            while written < len(data):
                written += os.write(self._fd, data[written:])
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            raise JournalError(
                f"cannot write the journal {self.path}: {exc.strerror}; the run is stopped "
                "because its record would be incomplete") from None

    def close(self) -> None:
        with contextlib.suppress(JournalError):
            self.flush()
        _HELD.discard(self._id)
        os.close(self._fd)  # which releases the lock


def started_line(event: TaskStarted) -> str:
    outcome = event.outcome
    if outcome is not None and outcome.journal is not None:
        fragments = records.of(outcome)
        where, started = fragments.where, fragments.started
    elif outcome is not None:  # only these two fragments: the rest is the finished line's
        where = records.where(outcome.pid, outcome.ppid, outcome.process_name, outcome.host)
        started = f'"{records.iso(outcome.started)}"'
    else:
        where = records.where(event.pid, event.ppid, event.process_name, event.host)
        where += _seen_running(event)
        started = records.encode(records.iso(event.ts))
    return _started(_ident(event.task, event.name, event.index), event.attempt, where, started,
                    event.spec_hash)


def _ident(task: str, name: str, index: int) -> str:
    return f'"task":{records.text(task)},"name":{records.text(name)},"index":{index}'


def _started(ident: str, attempt: int, where: str, started: str, spec_hash: str) -> str:
    return (f'{{"event":"task_started","ts":{started},{ident},"attempt":{attempt},{where},'
            f'"spec_hash":"{spec_hash}"}}\n')


def first_try_lines(task: PlannedTask, fragments: records.Fragments) -> str:
    """Both lines of a task that ended ok at its first attempt, as a worker running a span
    writes them (with the same text `started_line` and `finished_line` would give)."""
    ident = _ident(task.id, task.name, task.index)
    return (_started(ident, 1, fragments.where, fragments.started, task.spec_hash)
            + _finished(ident, 1, True, "ok", fragments, task.spec_hash, ""))


def _seen_running(event: TaskStarted) -> str:
    """`,"pid_created":t` for an attempt seen running: with the PID it lets `--resume`
    kill a survivor without ever hitting a process that reused the PID. Looked up here,
    once per attempt that outlived a tick of the engine; an attempt announced together
    with its end needs none (both lines land in one write, and a finished attempt leaves
    nothing to kill). Null on another host, or when the PID is gone or already belongs
    to a younger process."""
    from runner.system import procs

    created = procs.created_before(event.pid, event.ts) if event.host == _HOST else None
    return f',"pid_created":{"null" if created is None else repr(created)}'


def _created(pid: int) -> float | None:
    from runner.system import procs

    found = procs.identity(pid)
    return found[1] if found else None


def finished_line(event: TaskFinished) -> str:
    """A task_finished record, spliced from the fragments made where the attempt ran."""
    fragments = records.of(event.outcome)
    retry = f',"retry_in":{event.retry_in!r}' if event.retry_in is not None else ""
    return _finished(_ident(event.task, event.name, event.index), event.attempt, event.final,
                     str.__str__(event.outcome.status), fragments, event.spec_hash, retry)


def _finished(ident: str, attempt: int, final: bool, status: str,
              fragments: records.Fragments, spec_hash: str, retry: str) -> str:
    return (f'{{"event":"task_finished","ts":{fragments.finished},{ident},"attempt":{attempt},'
            f'"final":{"true" if final else "false"},"status":"{status}",{fragments.where},'
            f'"started":{fragments.started},"finished":{fragments.finished},'
            f'"spec_hash":"{spec_hash}"{retry}{fragments.tail}}}\n')


def job_finished_line(event: JobFinished) -> str:
    return _encode_text({"event": "job_finished", "ts": iso(event.ts), "counts": event.counts,
                         "exit_code": event.exit_code, "duration": round(event.duration, 6),
                         "interrupted_by": event.interrupted_by}) + "\n"


def _lock(journal: Path, fd: int) -> tuple[int, int]:
    """Lock the open journal for this run; its (device, inode), now in _HELD."""
    if not _try_lock(fd):
        holder = _lock_holder(fd)
        os.close(fd)  # this process holds no lock on it: closing releases nobody's
        raise _in_use(journal, holder)
    found = os.fstat(fd)
    _HELD.add((found.st_dev, found.st_ino))
    return found.st_dev, found.st_ino


def _lock_holder(fd: int) -> str:
    """The PID holding a POSIX lock on the file, as Linux lists it in /proc/locks
    (`1: POSIX  ADVISORY  WRITE 4242 08:01:1234 0 EOF`); "unknown" elsewhere."""
    if not sys.platform.startswith("linux"):
        return "unknown"
    found = os.fstat(fd)
    key = f"{os.major(found.st_dev):02x}:{os.minor(found.st_dev):02x}:{found.st_ino}"
    try:
        with open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                if key in fields and "->" not in fields:  # "->" marks a waiter
                    return fields[fields.index(key) - 1]
    except OSError:
        pass
    return "unknown"


_HELD: set[tuple[int, int]] = set()
"""(device, inode) of the journals this process holds locked. A POSIX lock never refuses the
process that holds it, and closing any descriptor of the file releases it, so a second
run in the same process is refused here, before it opens the file at all."""


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.lstat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _in_use(journal: Path, holder: str) -> JournalError:
    return JournalError(f"the journal {journal} is in use by another run (pid {holder}); "
                        "wait for it to finish or give this run another --journal")


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # msvcrt.locking is Windows' equivalent of flock
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:  # lockf, not flock: a flock is shared with forked workers and outlives the runner
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class JsonLines:
    """A Sink for `--json`: the journal's task_finished and job_finished lines on a stream."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def job_started(self, event: JobStarted) -> None:
        pass

    def task_started(self, event: TaskStarted) -> None:
        pass

    def task_finished(self, event: TaskFinished) -> None:
        self.stream.write(finished_line(event))

    accepts_spans = True

    def span_finished(self, event: SpanFinished) -> None:
        self.stream.write("".join(line for line in event.lines.splitlines(keepends=True)
                                  if line.startswith('{"event":"task_finished"')))

    def job_finished(self, event: JobFinished) -> None:
        self.stream.write(job_finished_line(event))

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()
