"""Whole logs (`logs:`): each attempt's stdout and stderr kept in two files of its own.

Flow: api.run makes the run's folder (`prepare`) -> admission names each attempt's
files (`Logs.stem`) -> the task's process writes them itself -> the recorder checks
them and records their paths (`Logs.finish`) -> `runner logs` reads them back.

The files are `<logs>/<run id>/<task id made file-safe>.<attempt>.out` / `.err`. The
task's descriptors 1 and 2 are the files themselves (a command's from its start, a
callable's for its attempt), so its output is on disk as it is written and never
passes through the runner: keeping it costs two `open`s, and the journal's tails are
read back from the end of the files. With `logs:`, attempt numbers continue across
the resumed runs of one journal, so no two attempts of a task share a number.

Each file is created new (`O_EXCL`) and never through a symbolic link
(`O_NOFOLLOW`): something planted in the run's folder is refused, not written
through. A folder that cannot be made, a file that cannot be created or is not a
regular file when the attempt ends, and a file system left full (a write that
failed: the output would be cut) are the runner's environment, exit 3: the run stops
before the attempt is recorded, as when the journal cannot be written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from pathlib import Path

from runner.errors import LogsError
from runner.events import Outcome
from runner.journal import files
from runner.worker.tails import read_tail

SUFFIXES = (".out", ".err")
_UNSAFE = r"[^A-Za-z0-9\-_=.,+@]+"  # compiled when a run first keeps logs
_MAX_SAFE = 100
"""Characters of a task id kept in a file name; the rest is told apart by a hash."""
_HASHED = "~"
"""Marks a name shortened or cleaned with a hash; never in a name kept as it was."""
_CREATE = (os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
           | getattr(os, "O_NOFOLLOW", 0))


def file_safe(task: str) -> str:
    """A task id as a file name: itself when every character is plain ASCII (letters,
    digits, `-_=.,+@`, not starting with a dot) and it is short; otherwise its safe
    characters (each run of others as one `_`, at most 100) then `~` and a hash of the
    whole id, so two ids never share a name, whatever they differ in."""
    if len(task) <= _MAX_SAFE and task and task[0] != "." and not re.search(_UNSAFE, task):
        return task
    cleaned = re.sub(_UNSAFE, "_", task[:_MAX_SAFE]).lstrip(".")
    digest = hashlib.sha256(task.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"{cleaned}{_HASHED}{digest}"


def paths(stem: str) -> tuple[str, str]:
    """The stdout and stderr files of the attempt whose files are named `stem`."""
    return stem + SUFFIXES[0], stem + SUFFIXES[1]


def open_pair(stem: str) -> tuple[int, int]:
    """The attempt's two files, created new for writing; LogsError when either cannot be
    (something already there, a symbolic link included, or no space left)."""
    out = _create(stem + SUFFIXES[0])
    try:
        return out, _create(stem + SUFFIXES[1])
    except LogsError:
        os.close(out)
        raise


def discard(stem: str) -> None:
    """Remove an attempt's files (a symbolic link is removed, never followed)."""
    for path in paths(stem):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _create(path: str) -> int:
    try:
        return os.open(path, _CREATE, 0o644)
    except OSError as exc:
        raise LogsError(f"cannot create the log file {path}: {exc.strerror or exc}") from None


class Logs:
    """A run's logs folder, and the attempts its journal recorded before this run."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        """`<logs>/<run id>`, absolute."""
        self.before: dict[str, int] = {}
        """Task id -> the attempts earlier runs of the journal recorded (a resume)."""

    def number(self, task: str, attempt: int) -> int:
        """The attempt's number across the journal's runs (`attempt` counts this run's)."""
        return attempt + self.before.get(task, 0)

    def stem(self, task: str, number: int) -> str:
        return os.path.join(self.folder, f"{file_safe(task)}.{number}")

    def finish(self, task: str, number: int,
               outcome: Outcome) -> tuple[Outcome, tuple[str, str] | None]:
        """The outcome of an attempt that ended, with the tails read back from its files
        when it came without (the runner made it: a command, a dead worker's attempt), and
        the paths of its files (None when it made none: it never started). LogsError when
        they are not whole: see `check`."""
        kept = self.check(task, number)
        if kept is None and outcome.error is not None and outcome.error.type == "LogsError":
            raise LogsError(outcome.error.message)  # its worker could not create them
        if kept is not None and outcome.journal is None and not (outcome.stdout
                                                                   or outcome.stderr):
            out, err = (_tail(path) for path in kept)
            outcome = outcome._replace(stdout=out, stderr=err)
        return outcome, kept

    def check(self, task: str, number: int) -> tuple[str, str] | None:
        """The paths of an attempt's files; None when there are none. LogsError when they
        are not both regular files, or the file system is full (a write to them may have
        failed)."""
        kept = paths(self.stem(task, number))
        modes = [_mode(path) for path in kept]
        if modes == [None, None]:
            return None
        for path, mode in zip(kept, modes):
            if mode is not None and not stat.S_ISREG(mode):
                raise LogsError(f"the log file {path} is not a regular file (something else "
                                "made it); refused: the run is stopped")
        for path, mode in zip(kept, modes):
            if mode is None:
                raise LogsError(f"the log file {path} of task {task} is missing; the run is "
                                "stopped because its logs would be incomplete")
        self.require_room()
        return kept

    def require_room(self) -> None:
        """LogsError when the logs' file system has no block left for anyone: a write
        to a log file may have failed there, and the output kept would be cut."""
        try:
            full = os.statvfs(self.folder).f_bavail == 0
        except OSError as exc:
            raise LogsError(f"cannot check the logs folder {self.folder}: "
                            f"{exc.strerror}") from None
        if full:
            raise LogsError(f"the file system of the logs folder {self.folder} is full; the "
                            "run is stopped because its logs would be incomplete")


def _mode(path: str) -> int | None:
    """What is at `path` (never following a link), None for nothing."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LogsError(f"cannot check the log file {path}: {exc.strerror}") from None


def _tail(path: str) -> str:
    """The tail of a log file, never through a symbolic link; empty when it is gone."""
    try:
        fd = files.open_peeking(Path(path))
    except OSError:
        return ""
    if fd is None:
        return ""
    try:
        return read_tail(fd, os.fstat(fd).st_size)
    except OSError:
        return ""
    finally:
        os.close(fd)


def head(path: str, limit: int) -> bytes:
    """The first `limit` bytes of a log file, never through a symbolic link; empty when
    it is gone."""
    try:
        fd = files.open_peeking(Path(path))
    except OSError:
        return b""
    if fd is None:
        return b""
    try:
        return os.pread(fd, limit, 0)
    except OSError:
        return b""
    finally:
        os.close(fd)


def prepare(template: str | None, job_name: str, base: str, run_id: str) -> Logs | None:
    """The run's logs folder, made now (`template` rendered with `{{ job }}`, relative to
    `base`, the job file's folder); None without `logs:`. LogsError (exit 3) when it
    cannot be made."""
    if template is None:
        return None
    from runner.jobfile.template import compile_value

    rendered = str(compile_value(template, text=True)({"job": job_name}))
    parent = os.path.join(base, rendered)
    folder = os.path.abspath(os.path.join(parent, run_id))
    try:
        os.makedirs(parent, exist_ok=True)
        os.mkdir(folder, 0o755)  # new: a run id is never reused
    except OSError as exc:
        raise LogsError(f"cannot create the logs folder {exc.filename or folder}: "
                        f"{exc.strerror or exc}") from None
    return Logs(folder)
