"""`runner run --resume JOURNAL`: what an earlier run recorded, and what is left to run.

What resume finds (the ids recorded ok, their spec hashes) tells `api.run`
which tasks the engine skips. `api.run` takes the journal's lock first (so
nobody appends while this reads), then `prepare` does, in order, through the
locked descriptor:

1. read the journal's whole lines, keeping only the ids whose latest final
   record is `ok` (with their spec hash), the ids of the runs it records and
   the processes they started here (PID and create time): memory grows with
   the ok tasks, not with the size of the file. A file that records no run is
   not a journal and is refused before anything changes it;
2. compare with the plan: a task recorded ok whose spec hash changed is
   refused (its recorded result may not be what the job now asks for) unless
   `force`; everything not recorded ok is counted as still to run;
3. trim a torn last line: a runner SIGKILLed in the middle of a `write` leaves
   a line without its newline, and appending after it would glue two events;
4. kill every survivor of the earlier runs: a recorded process still alive
   with the same create time (so a recycled PID is never hit), and every
   process still carrying an earlier run's marker, each with its whole tree.

Resume is at-least-once: a task that was running when its runner died has no
`ok` record, so it runs again.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from runner.errors import ResumeError, RunnerError
from runner.journal.reader import Lines
from runner.plan import Entry, Plan
from runner.system import envseal

TAIL_CHUNK = 1 << 16
SHOWN_IDS = 10


@dataclass
class Recorded:
    """What a journal says about its runs, reduced to what resuming needs."""

    ok: dict[str, str] = field(default_factory=dict)
    """Task id -> spec hash, for each task whose latest final record is `ok`."""
    ok_run: dict[str, int] = field(default_factory=dict)
    """Task id -> the index in `runs` of the run that recorded it ok."""
    runs: list[str] = field(default_factory=list)
    """Run ids, oldest first."""
    envs: list[dict[str, Any] | None] = field(default_factory=list)
    """Each run's keyed digests of env values (`Plan.env_record`), in step with `runs`."""
    attempts: dict[str, int] = field(default_factory=dict)
    """Task id -> its highest attempt recorded (started or finished), for tasks not recorded
    ok: they run again, and with `logs:` their attempt numbers go on from there."""
    processes: dict[int, float] = field(default_factory=dict)
    """PID -> create time of processes the runs started on this host (latest per PID:
    a PID that came back with a newer create time means the older process is gone)."""
    fed: frozenset[str] = frozenset()
    """Name templates of the entries whose results feed an `as`: only theirs are kept."""
    results: dict[str, str] = field(default_factory=dict)
    """Task id -> its recorded result as JSON text, for the tasks of `fed` entries."""

    def add(self, event: dict[str, Any], host: str) -> None:
        kind = event.get("event")
        if kind in ("task_started", "task_finished"):
            self._count_attempt(event)
        if kind == "task_finished":
            if event.get("final"):
                if event.get("status") == "ok":
                    self.ok[event["task"]] = event.get("spec_hash", "")
                    self.attempts.pop(event["task"], None)
                    self.ok_run[event["task"]] = len(self.runs) - 1
                    if self.fed and _of_entries(event["task"], self.fed):
                        self.results[event["task"]] = json.dumps(event.get("result"))
                else:
                    self.ok.pop(event["task"], None)
                    self.ok_run.pop(event["task"], None)
                    self.results.pop(event["task"], None)
        elif kind in ("task_started", "job_started"):
            if kind == "job_started" and event.get("run"):
                self.runs.append(event["run"])
                env = event.get("env")
                self.envs.append(env if isinstance(env, dict) else None)
            created = event.get("pid_created")
            if created is not None and event.get("host") == host and event.get("pid"):
                self.processes[int(event["pid"])] = float(created)

    def _count_attempt(self, event: dict[str, Any]) -> None:
        task, attempt = event.get("task"), event.get("attempt")
        if isinstance(task, str) and type(attempt) is int and attempt > self.attempts.get(task, 0):
            self.attempts[task] = attempt

    def env_of(self, task: str) -> dict[str, Any] | None:
        """The env record of the run that recorded `task` ok."""
        run = self.ok_run.get(task, -1)
        return self.envs[run] if 0 <= run < len(self.envs) else None


@dataclass(frozen=True)
class Resumption:
    """How a resumed run differs from a fresh one."""

    skip: frozenset[str]
    """Ids recorded ok: the engine does not run them again."""
    remaining: int
    """Tasks of the plan still to run: the run's total."""
    resumes: str | None
    """The id of the latest run the journal records."""
    dropped_bytes: int
    killed: list[int]
    attempts: dict[str, int] = field(default_factory=dict)
    """Task id -> its highest attempt recorded, for the tasks still to run."""
    results: dict[str, str] = field(default_factory=dict)
    """Recorded results of the tasks recorded ok whose results feed an `as`."""

    def notices(self, journal: Path) -> list[str]:
        """What the person resuming should know, one line each, for stderr."""
        lines = []
        if self.dropped_bytes:
            lines.append(f"{journal}: dropped a torn last line ({self.dropped_bytes} bytes): "
                         "the earlier runner died while writing it")
        if self.killed:
            shown = ", ".join(str(pid) for pid in self.killed[:SHOWN_IDS])
            more = f" and {len(self.killed) - SHOWN_IDS} more" if len(self.killed) > SHOWN_IDS \
                else ""
            lines.append(f"killed {len(self.killed)} process(es) left by the earlier run: "
                         f"pid {shown}{more}")
        lines.append(f"resuming run {self.resumes or '(unknown)'} from {journal}: "
                     f"{len(self.skip)} task(s) recorded ok, {self.remaining} to run")
        return lines


def require(journal: Path) -> None:
    """Refuse to resume from a journal that is not there, before anything creates it.
    What is there is checked when it is opened (see runner.journal.files)."""
    if not os.path.lexists(journal):
        raise ResumeError(f"cannot resume from {journal}: no such journal; run the job "
                          "without --resume to start one")


def prepare(journal: Path, stream: BinaryIO, plan: Plan, *, force: bool,
            grace: float) -> Resumption:
    """Steps 1 to 4 of the module docstring on `stream`, the journal at `journal` opened
    for reading and writing; the caller holds its lock."""
    stream.seek(0)
    fed = _fed(plan)
    recorded = read(stream, journal, fed)
    if not recorded.runs:
        raise ResumeError(f"cannot resume from {journal}: it records no run (no job_started "
                          "event), so it is not a journal; run the job without --resume")
    remaining = _check_plan(journal, plan, recorded, force)
    dropped = trim_torn_tail(stream)
    killed = kill_survivors(recorded, grace)
    return Resumption(frozenset(recorded.ok), remaining, recorded.runs[-1], dropped, killed,
                      recorded.attempts, recorded.results)


def _fed(plan: Plan) -> frozenset[str]:
    """The names of the entries whose results feed an `as`, found through one index of
    the entries by name."""
    from runner.jobfile.needs import normalised

    places = {normalised(entry.name_template): k for k, entry in enumerate(plan.entries)}
    return frozenset(plan.entries[places[normalised(name)]].name_template
                     for entry in plan.entries for name, alias in entry.needs if alias)


def _of_entries(task: str, names: frozenset[str]) -> bool:
    """Whether a task id is one of these entries' (`name` or `name[axis=value,...]`):
    the id and each part of it before a `[` are looked up, so the cost is the id's
    length, whatever the number of entries."""
    if task in names:
        return True
    at = task.find("[")
    while at >= 0:
        if task[:at] in names:
            return True
        at = task.find("[", at + 1)
    return False


def trim_torn_tail(file: BinaryIO) -> int:
    """Cut the file after its last newline; return how many bytes that dropped.

    Reads backwards in chunks, so the cost is the torn line's size, not the file's."""
    size = file.seek(0, os.SEEK_END)
    end = keep = size
    while end > 0:
        start = max(0, end - TAIL_CHUNK)
        file.seek(start)
        newline = file.read(end - start).rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        end = keep = start
    if keep < size:
        file.truncate(keep)
        os.fsync(file.fileno())
    return size - keep


def read(stream: BinaryIO, journal: Path, fed: frozenset[str] = frozenset()) -> Recorded:
    """Stream the journal's whole lines, however long (a torn last one is left to
    `trim_torn_tail`); a line that is not JSON means someone else wrote the file: refuse it."""
    recorded = Recorded(fed=fed)
    host = socket.gethostname()
    for number, line in Lines(stream, limit=None):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            raise ResumeError(f"{journal}:{number}: not a JSON line; this file was not "
                              "written whole by runner and cannot be resumed") from None
        if isinstance(event, dict):
            recorded.add(event, host)
    return recorded


def _check_plan(journal: Path, plan: Plan, recorded: Recorded, force: bool) -> int:
    """Count the tasks still to run; refuse tasks recorded ok whose spec changed, saying
    which env variables changed where nothing else did."""
    remaining = 0
    changes = _Changes()
    for task in plan:
        recorded_hash = recorded.ok.get(task.id)
        if recorded_hash is None:
            remaining += 1
            continue
        entry = plan.entries[task.entry]
        legacy = len(recorded_hash) == LEGACY_HASH_CHARS
        if recorded_hash != (entry.legacy_hash(task.index) if legacy else task.spec_hash):
            changes.add(task.id, _env_change(entry, recorded.env_of(task.id), plan.key))
    if changes.count and not force:
        raise ResumeError(f"cannot resume from {journal}: {changes}. Their recorded results "
                          "may not be what the job asks for. Start a fresh journal to run "
                          "them again, or pass --force to keep the recorded results and run "
                          "only the rest")
    return remaining


LEGACY_HASH_CHARS = 16
KEY_CHANGED = "the secret key"


def _env_change(entry: Entry, recorded: dict[str, Any] | None, key: bytes) -> list[str]:
    """The env variables whose value alone changed since `recorded` (an earlier run's
    `Plan.env_record`), `[KEY_CHANGED]` if the key that digests them did, or [] when
    something else changed too or nothing tells."""
    if recorded is None:
        return []
    entries = recorded.get("entries")
    before = entries.get(entry.name_template) if isinstance(entries, dict) else None
    if not isinstance(before, dict) or before.get("spec") != entry.base:
        return []
    if recorded.get("key") != envseal.key_id(key):
        return [KEY_CHANGED]
    digests = before.get("env")
    if not isinstance(digests, dict):
        return []
    return [name for name, value in entry.env_digests.items() if digests.get(name) != value]


@dataclass
class _Changes:
    """Tasks recorded ok whose spec changed: some ids to show, and which env variables
    (or the key) account for the change where they alone do."""

    count: int = 0
    shown: list[str] = field(default_factory=list)
    env_only: int = 0
    names: dict[str, None] = field(default_factory=dict)

    def add(self, task: str, env: list[str]) -> None:
        self.count += 1
        if len(self.shown) < SHOWN_IDS:
            self.shown.append(task)
        if env:
            self.env_only += 1
            self.names.update(dict.fromkeys(env))

    def __str__(self) -> str:
        more = f" and {self.count - len(self.shown)} more" if self.count > len(self.shown) else ""
        text = (f"{self.count} task(s) recorded ok have a different spec now: "
                f"{', '.join(self.shown)}{more}")
        variables = [name for name in self.names if name != KEY_CHANGED]
        if variables:
            text += (f". For {self.env_only} of them only the values of env variables changed: "
                     f"{', '.join(variables)}")
        if KEY_CHANGED in self.names:
            text += (". The secret key that digests env values is not the one the earlier run "
                     "used (was the state folder cleared?), so whether env values changed "
                     "cannot be told")
        return text


def kill_survivors(recorded: Recorded, grace: float) -> list[int]:
    """End every process an earlier run left alive, whole trees, deepest first; return
    their PIDs. Never this process or one of its ancestors."""
    from runner.system import procs

    spare = _self_and_ancestors()
    roots = [p for pid, created in recorded.processes.items()
             if pid not in spare and (p := procs.same_process(pid, created)) is not None]
    by_run = procs.by_marker(exclude=spare)
    roots += [p for run in set(recorded.runs) for p in by_run.get(run, [])]
    if not roots:
        return []
    # Zombies are dead already, waiting for an init that may reap them only now and then.
    members = procs.alive(p for p in procs.forest(roots) if p.pid not in spare)
    left = procs.kill_all(members, signal.SIGTERM, grace)
    if left:
        raise RunnerError(f"cannot resume: process(es) {', '.join(str(p.pid) for p in left)} "
                          "left by the earlier run could not be killed (another user's?); "
                          "they may still be running its tasks")
    return sorted(p.pid for p in members)


def _self_and_ancestors() -> set[int]:
    import psutil

    me = psutil.Process()
    try:
        return {me.pid, *(p.pid for p in me.parents())}
    except psutil.Error:
        return {me.pid}
