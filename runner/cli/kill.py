"""`runner kill`: stop a run the registry knows, through its runner while it lives.

Flow: RUN_OR_PID -> registry (which run?) -> **kill** -> stop request + SIGTERM to the
runner -> bounded wait -> (runner gone) SIGTERM/SIGKILL to the run's marked stragglers.

`runner kill` cuts only what belongs to a run: a PID names the run it belongs to
(its runner, anything below the runner, or a process carrying the run's marker),
and any other PID is refused before a signal is sent, with what it is: PID 1, this
command or one of its ancestors (the shell that started it), or a process of no
run. A live run is never cut from below, where its runner would see slots free up
and start new tasks, and a shell script whose `sleep` was killed would carry on and
end `ok`: the runner is asked to stop, and applies its own policy. Only the
processes of a run whose runner is gone are signalled directly.

A target is a PID (ASCII decimal digits only) or a run id (12 lowercase hex
characters) or a unique prefix of one; run ids are never all digits, so an
all-digit target is always a PID.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import time
from pathlib import Path

import psutil

from runner.cli.ps import journal_tasks, role
from runner.errors import ExitCode
from runner.system import procs, registry
from runner.system.registry import RunRecord, StopRequest

PID_TEXT = re.compile(r"[0-9]+", re.ASCII)
RUN_ID_TEXT = re.compile(r"[0-9a-f]{1,12}")
STOP_WAIT_SECONDS = 30.0
"""How long to wait for a runner to apply its shutdown policy before reporting it busy."""
STRAGGLER_GRACE = 5.0
FOLLOW_SECONDS = 0.05
KILL_WAIT_SECONDS = 5.0

Target = tuple[RunRecord, psutil.Process | None]


class Refused(Exception):
    """A target `runner kill` will not act on; the message says what it is."""


def kill_command(target: str, now: bool, grace: float | None) -> int:
    """Stop the run `target` names: 0 once it has ended, 1 if something is still alive,
    2 for a target that is not a run's, 3 if the runner cannot be told how to stop."""
    try:
        if grace is not None and not 0 <= grace <= registry.MAX_STOP_GRACE:
            raise Refused(f"--grace {grace:g}s is beyond what a run accepts "
                          f"(0 to {registry.MAX_STOP_GRACE:g}s)")
        record, runner = resolve(target)
    except Refused as exc:
        print(f"runner kill: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    if runner is not None:
        try:
            if not _stop_runner(record, runner, StopRequest(now, grace)):
                return int(ExitCode.TASK_FAILED)
        except OSError as exc:
            print(f"runner kill: cannot leave a stop request in {registry.runs_dir()}: "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return int(ExitCode.RUNNER_FAILED)
    straggler_grace = 0.0 if now else STRAGGLER_GRACE if grace is None else grace
    return _end_stragglers(record, straggler_grace, announce=runner is None)


# -- what the target names ------------------------------------------------------


def resolve(text: str) -> Target:
    """The run `text` names and its live runner (None when it is gone), or Refused."""
    if PID_TEXT.fullmatch(text):
        return _run_of_pid(_pid(text))
    if RUN_ID_TEXT.fullmatch(text):
        return _run_of_id(text)
    raise Refused(f"{text!r} is neither a PID (ASCII digits) nor a run id (12 lowercase "
                  "hex characters); `runner ps` lists the runs and their PIDs")


def _pid(text: str) -> int:
    number = int(text) if len(text) <= 10 else 0
    if not registry.is_pid(number):
        raise Refused(f"{text} is not a process id (1 to {registry.MAX_PID})")
    return number


def _run_of_id(text: str) -> Target:
    """A run id, or a prefix of exactly one (an exact id wins over longer ones)."""
    known = registry.runs()
    matches = [(r, p) for r, p in known if r.run_id.startswith(text)]
    exact = [(r, p) for r, p in matches if r.run_id == text]
    if exact or len(matches) == 1:
        return (exact or matches)[0]
    if matches:
        names = ", ".join(r.run_id for r, _ in matches)
        raise Refused(f"{text!r} matches several runs ({names}); give more of the id")
    raise Refused(f"no run {text!r}; `runner ps` lists the runs and their PIDs")


def _run_of_pid(pid: int) -> Target:
    """The run a process belongs to: as its runner, below its runner, or by its marker."""
    protected = _protected(pid)
    if protected is not None:
        raise Refused(protected)
    known = registry.runs()
    for record, runner in known:
        if runner is not None and pid in {p.pid for p in procs.tree(runner)}:
            return record, runner
    try:
        process = psutil.Process(pid)
        marker = process.environ().get(procs.RUN_MARKER_ENV)
        name = process.name()
    except psutil.NoSuchProcess:
        raise Refused(f"no process {pid}; `runner ps` lists the runs and their PIDs") from None
    except psutil.Error:
        marker, name = None, "?"
    for record, runner in known:
        if record.run_id == marker:
            return record, runner
    raise Refused(f"PID {pid} ({name}) belongs to no run the registry knows; `runner kill` "
                  "stops only runs (`runner ps` lists them)")


def _protected(pid: int) -> str | None:
    """Why `pid` must never be signalled from here, or None."""
    if pid == 1:
        return "PID 1 is the system's init; `runner kill` never signals it"
    me = psutil.Process()
    if pid == me.pid:
        return f"PID {pid} is this `runner kill` itself"
    with contextlib.suppress(psutil.Error):
        for parent in me.parents():
            if parent.pid == pid:
                return (f"PID {pid} ({parent.name()}) is an ancestor of this `runner kill` "
                        "(the shell or program that started it)")
    return None


def _untouchable() -> set[int]:
    """PID 1, this process and its ancestors: never signalled, whatever marker they carry."""
    me = psutil.Process()
    with contextlib.suppress(psutil.Error):
        return {1, me.pid, *(p.pid for p in me.parents())}
    return {1, me.pid}


# -- a live run: ask its runner --------------------------------------------------


def _stop_runner(record: RunRecord, runner: psutil.Process, request: StopRequest) -> bool:
    """Ask the runner to stop as SIGTERM does, with `request` saying how, and wait (bounded)
    for it to end; False if it is still running."""
    if request != StopRequest():
        registry.request_stop(record.run_id, request)
    procs.send([runner], signal.SIGTERM)
    how = ("its running tasks get SIGKILL now" if request.now else
           f"its running tasks are stopped now, SIGKILL after {request.grace:g}s"
           if request.grace is not None else "it applies the job's shutdown policy")
    print(f"asked run {record.run_id} (runner pid {record.pid}) to stop: {how}", flush=True)
    began = time.monotonic()
    if procs.wait_gone([runner], STOP_WAIT_SECONDS + (request.grace or 0.0)):
        print(f"run {record.run_id} is still stopping after {time.monotonic() - began:.0f}s "
              "(its shutdown policy may let running tasks finish); `runner kill "
              f"{record.run_id} --now` stops them at once", file=sys.stderr)
        return False
    print(f"run {record.run_id} ended after {time.monotonic() - began:.1f}s")
    return True


# -- a run whose runner is gone: its stragglers ------------------------------------


def _end_stragglers(record: RunRecord, grace: float, *, announce: bool) -> int:
    """SIGTERM the run's marked processes (trees, deepest first), SIGKILL after `grace`;
    forget the record once nothing is left. 0 if all is gone, 1 if not."""
    labels: dict[int, str] = {}
    survivors = _stop(procs.marked(record.run_id), grace, labels, _untouchable())
    if not survivors:
        registry.forget(record)
    if announce and not labels:
        print(f"run {record.run_id}: its runner and processes are gone; nothing to kill")
    tasks = journal_tasks(Path(record.journal)) if labels and record.journal else {}
    lost = {p.pid for p in survivors}
    for pid, label in labels.items():
        if pid not in lost:
            print(f"killed straggler {pid} {label}" + (f" [{tasks[pid]}]" if pid in tasks else ""))
    for process in survivors:
        print(f"survived {process.pid} {labels.get(process.pid, '')}: it may belong to "
              "another user or be stuck in the kernel (state D)", file=sys.stderr)
    return 1 if survivors else 0


def _stop(roots: list[psutil.Process], grace: float, labels: dict[int, str],
          untouchable: set[int]) -> list[psutil.Process]:
    """SIGTERM the trees deepest first and keep signalling what they start meanwhile;
    SIGKILL whatever is left after `grace`. `labels` collects what was signalled.
    Returns what even SIGKILL did not end."""
    deadline = time.monotonic() + grace
    ours: dict[int, psutil.Process] = {}
    skip = set(untouchable)  # grows with what was signalled already
    living = [p for p in roots if p.pid not in skip]
    while living:
        fresh = [p for p in procs.forest(living) if p.pid not in skip]
        skip.update(p.pid for p in fresh)
        _remember(fresh, ours, labels)
        procs.send(fresh, signal.SIGTERM)
        living = procs.alive(ours.values())
        if not living or time.monotonic() >= deadline:
            break
        time.sleep(FOLLOW_SECONDS)
    if not living:
        return []
    last = [p for p in procs.freeze(living) if p.pid not in untouchable]
    _remember([p for p in last if p.pid not in skip], ours, labels)
    return procs.kill_all(last, signal.SIGKILL, KILL_WAIT_SECONDS)


def _remember(processes: list[psutil.Process], ours: dict[int, psutil.Process],
              labels: dict[int, str]) -> None:
    """Note each process and its name now: once it is dead, its name cannot be read."""
    for process in processes:
        ours[process.pid] = process
        labels[process.pid] = _label(process)


def _label(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        kind = role(process)
        return f"{process.name()} {kind}" if kind else process.name()
    return ""

