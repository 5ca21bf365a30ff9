"""Live runs on this machine, one small JSON file each, for `runner ps` and `runner kill`.

`api.run` writes `<state dir>/runs/<run id>.json` before its engine starts, keeps
that file open while it runs, and removes it after. The state folder is the
user's own: created 0700, and a folder others can write, or a file someone else
owns, is ignored with a warning, since whoever can write a record decides what
`ps` reads and what `kill` signals. Every field of a record is validated before
anything is read, deleted or signalled through it.

A record proves nothing by itself: a runner is a process that is alive with
the record's PID and create time *and* holds the record's file open. No
other process can have that file open (only the runner opened it), so a
record that names some other process, forged or stale, never makes `ps` or
`kill` treat that process as a runner. A record whose runner is gone (SIGKILL,
power loss) is removed once no process carrying its run marker is left.

`runner kill` tells a runner how to stop through a stop request,
`<run id>.stop`, written (0600) before it sends the runner SIGTERM; the runner
reads and deletes it when the signal arrives.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import psutil

from runner.system import procs
from runner.system.atomic import write_atomically

RUN_ID = re.compile(r"[0-9a-f]{12}")
MAX_PID = 2**31 - 1
"""PIDs are C ints on every platform; anything larger names no process."""
MAX_RECORD_BYTES = 1 << 16
MAX_STOP_GRACE = 7 * 24 * 3600.0


def new_run_id() -> str:
    """12 lowercase hex characters, never all digits, so a run id is never read as a PID."""
    while True:
        candidate = os.urandom(6).hex()  # what secrets.token_hex does, without its imports
        if not candidate.isdigit():
            return candidate


def is_pid(value: object) -> bool:
    return type(value) is int and 0 < value <= MAX_PID


def state_dir() -> Path:
    """`$RUNNER_STATE_DIR`, else `$XDG_RUNTIME_DIR/runner`, else `~/.local/state/runner`."""
    explicit = os.environ.get("RUNNER_STATE_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "runner"
    return Path.home() / ".local" / "state" / "runner"


def runs_dir() -> Path:
    return state_dir() / "runs"


def warn(message: str) -> None:
    print(f"runner: {message}", file=sys.stderr)


def untrusted() -> str | None:
    """Why the state folder or its `runs` folder is not the user's own, or None if both are.
    The state folder may be reached through a link (a user's choice); `runs` may not."""
    for folder, follow in ((state_dir(), True), (runs_dir(), False)):
        try:
            info = folder.stat() if follow else folder.lstat()
        except OSError as exc:
            return f"{folder}: {exc.strerror}"
        if not stat.S_ISDIR(info.st_mode):
            return f"{folder} is not a folder"
        if info.st_uid != os.geteuid():
            return f"{folder} belongs to uid {info.st_uid}, not to you"
        if info.st_mode & 0o022:
            return f"{folder} can be written by others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


@dataclass(frozen=True)
class RunRecord:
    """What a live run says about itself; the JSON file holds exactly these fields."""

    run_id: str
    pid: int
    created: float
    job: str
    journal: str | None
    started: float
    executor: str
    workers: int

    @property
    def path(self) -> Path:
        return runs_dir() / f"{self.run_id}.json"

    def runner(self) -> psutil.Process | None:
        """The runner process, if it is alive and is the one holding this record open."""
        process = procs.same_process(self.pid, self.created)
        if process is None or not procs.holds_open(process, self.path):
            return None
        return process

    def runner_gone(self) -> bool:
        """True when no process has the record's PID and create time any more."""
        return procs.same_process(self.pid, self.created) is None


def parse_record(data: Any, name: str) -> RunRecord:
    """A record from its JSON, or ValueError saying which field is wrong."""
    expected = {f.name for f in fields(RunRecord)}
    if not isinstance(data, dict) or set(data) != expected:
        raise ValueError(f"its fields are not {', '.join(sorted(expected))}")
    run_id, journal = data["run_id"], data["journal"]
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise ValueError("its run id is not 12 lowercase hex characters")
    if name != f"{run_id}.json":
        raise ValueError(f"its name does not match its run id {run_id}")
    if not is_pid(data["pid"]):
        raise ValueError(f"its pid is not a process id between 1 and {MAX_PID}")
    if journal is not None and not (isinstance(journal, str) and os.path.isabs(journal)
                                    and "\0" not in journal):
        raise ValueError("its journal is not an absolute path")
    if not all(_finite(data[key]) for key in ("created", "started")):
        raise ValueError("its times are not numbers")
    if not (isinstance(data["job"], str) and isinstance(data["executor"], str)
            and type(data["workers"]) is int):
        raise ValueError("its job, executor or workers have the wrong type")
    return RunRecord(**data)


def _finite(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


class Registration:
    """A run's entry in the registry, held open while the run lasts (that is what proves
    the runner is the runner); removing it twice, or after a failed write, is fine."""

    def __init__(self, path: Path | None, fd: int | None = None) -> None:
        self.path = path
        self._fd = fd

    def remove(self) -> None:
        if self.path is not None:
            _unlink_entry(self.path)
            self.path = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def register(run_id: str, job: str, journal: Path | str | None, executor: str,
             workers: int) -> Registration:
    """Record this process as the runner of `run_id`.

    The registry only helps `ps` and `kill`: a state folder that cannot be written,
    or is not the user's own, warns and lets the run go ahead unregistered."""
    me = psutil.Process()
    record = RunRecord(run_id, me.pid, me.create_time(), job,
                       str(Path(journal).absolute()) if journal is not None else None,
                       time.time(), executor, workers)
    try:
        folder = make_runs_dir()
        fd = write_atomically(folder / f"{run_id}.json", json.dumps(asdict(record)))
    except OSError as exc:
        warn(f"run {run_id} is not registered ({exc}); `runner ps` will not list it")
        return Registration(None)
    return Registration(folder / f"{run_id}.json", fd)


def make_runs_dir() -> Path:
    """The state folder's `runs`, created 0700; PermissionError if it is not the user's."""
    folder = runs_dir()
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.mkdir(exist_ok=True, mode=0o700)
    problem = untrusted()
    if problem is not None:
        raise PermissionError(problem)
    return folder


def records() -> list[RunRecord]:
    """Every valid record in a trusted state folder, live or not, oldest first; what is
    ignored is said on stderr."""
    folder = runs_dir()
    if not folder.exists():
        return []
    problem = untrusted()
    if problem is not None:
        warn(f"ignoring the runs recorded in {folder}: {problem}")
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(parse_record(json.loads(_read_own(path)), path.name))
        except (OSError, ValueError) as exc:
            warn(f"ignoring {path}: {exc}")
    return sorted(found, key=lambda r: r.started)


def runs() -> list[tuple[RunRecord, psutil.Process | None]]:
    """Every valid record with its runner, None once that runner is gone. A record whose
    PID and create time name a living process that does not hold it open is ignored with
    a warning: that process is not its runner, whatever the record says."""
    found = []
    for record in records():
        runner = record.runner()
        if runner is None and not record.runner_gone():
            warn(f"ignoring {record.path}: process {record.pid} does not hold it open, "
                 "so it is not that run's runner")
            continue
        found.append((record, runner))
    return found


def _read_own(path: Path) -> bytes:
    """A small regular file this user owns and only this user can write, read without
    following a link or blocking on a FIFO; OSError or ValueError saying why not."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise ValueError("it belongs to someone else or others can write it")
        return os.read(fd, MAX_RECORD_BYTES)
    finally:
        os.close(fd)


def forget(record: RunRecord) -> None:
    """Remove a record (its run id is validated, so the path stays in the runs folder)."""
    _unlink_entry(record.path)


def _unlink_entry(path: Path) -> None:
    """A run's record and any stop request left beside it."""
    for each in (path, path.with_suffix(".stop")):
        with contextlib.suppress(OSError):
            each.unlink()


# -- stop requests: how `runner kill` tells a runner to stop -----------------------


class StopRequest(NamedTuple):
    """`now`: SIGKILL the running tasks at once; `grace`: stop them at once with the
    job's stop signal, SIGKILL after this many seconds. Neither: the job's `shutdown`."""

    now: bool = False
    grace: float | None = None


def request_stop(run_id: str, request: StopRequest) -> None:
    """Leave a stop request for the runner of `run_id` to read on its next SIGTERM."""
    fd = write_atomically(runs_dir() / f"{run_id}.stop", json.dumps(request._asdict()))
    os.close(fd)


def take_stop_request(run_id: str) -> StopRequest | None:
    """The stop request left for this run, deleted as it is read; None if there is none
    or it cannot be trusted (then the SIGTERM means what SIGTERM always does)."""
    if not RUN_ID.fullmatch(run_id):
        return None
    path = runs_dir() / f"{run_id}.stop"
    try:
        data = json.loads(_read_own(path))
        path.unlink()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        warn(f"ignoring the stop request {path}: {exc}")
        return None
    grace = data.get("grace") if isinstance(data, dict) else None
    if not isinstance(data, dict) or type(data.get("now")) is not bool or not (
            grace is None or (_finite(grace) and 0 <= grace <= MAX_STOP_GRACE)):
        warn(f"ignoring the stop request {path}: it is not a valid request")
        return None
    return StopRequest(data["now"], None if grace is None else float(grace))
