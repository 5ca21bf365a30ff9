"""How the harness measures: whole processes, timed from outside, alternated across rounds.

Every measurement is a fresh process started from here, timed with
`perf_counter` around spawn and reap, so interpreter start-up and exit
count as much as they do for a user. Approaches run in rotating order round
after round, so a slow period of the machine hits all of them alike; each
round's output is checked before its time counts, because a benchmark that
does less work than it claims is worthless.

Each process gets its own session and an environment marker inherited by all
its descendants: after it exits, any process still carrying the marker is a
leak, which would steal CPU from the next measurement. It is killed and the
row says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from _report import Row

MARKER = "RUNNER_BENCH_MARK"
LINGER_SECONDS = 5.0


class BenchError(Exception):
    """A measurement that cannot count: the process failed, timed out or did too little.
    `detail` is the longer story (the tail of its output), for stderr rather than a table."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Command:
    """A whole process to measure; `stdin` is a file to feed it, `env` extra variables."""

    argv: list[str]
    stdin: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What one process did: wall time, exit code, output, and how many of its
    descendants outlived it."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    leaked: int


@dataclass
class Approach:
    """One way to do a workload: the command for a round, and `score`, which checks the
    outcome (raising `BenchError` if it did less than claimed) and returns the sample to
    record (seconds, or MB). `skip` says why it cannot run here (a tool is missing)."""

    name: str
    command: Callable[[int], Command]
    score: Callable[[Outcome, int], float]
    skip: str = ""


def run_process(command: Command, scratch: Path, timeout: float) -> Outcome:
    """Run `command` once to completion and measure it; a timeout kills its session.
    Survivors are swept even after a timeout, so one bad round cannot slow the next."""
    out, err = scratch / "stdout.txt", scratch / "stderr.txt"
    mark = uuid.uuid4().hex
    env = {**os.environ, **command.env, MARKER: mark}
    try:
        status, seconds = _timed(command, env, out, err, timeout)
    finally:
        leaked = sweep(mark)
    return Outcome(seconds, os.waitstatus_to_exitcode(status), out.read_text(errors="replace"),
                   err.read_text(errors="replace"), leaked)


def _timed(command: Command, env: dict[str, str], out: Path, err: Path,
           timeout: float) -> tuple[int, float]:
    """Wall time from spawn to reap, with output going to files (no pipe to drain)."""
    with _opened(command.stdin) as stdin, out.open("wb") as fout, err.open("wb") as ferr:
        started = time.perf_counter()
        pid = _spawn(command.argv, stdin, fout.fileno(), ferr.fileno(), env)
        status = _wait(pid, timeout)
        return status, time.perf_counter() - started


@contextlib.contextmanager
def _opened(path: Path | None) -> Iterator[int]:
    """A readable fd for stdin: the given file, or /dev/null so nothing waits on a tty."""
    fd = os.open(path or os.devnull, os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


def _spawn(argv: list[str], stdin: int, stdout: int, stderr: int,
           env: dict[str, str]) -> int:
    """posix_spawn in a new session (its own process group, for a clean kill on timeout):
    a vfork-and-exec, so the harness's own size does not slow the spawn."""
    actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1),
               (os.POSIX_SPAWN_DUP2, stderr, 2)]
    return os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsid=True)


def _wait(pid: int, timeout: float) -> int:
    """Block in waitpid; a timer kills the process's session if it overruns."""
    fired = threading.Event()
    timer = threading.Timer(timeout, _kill_session, args=(pid, fired))
    timer.start()
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        timer.cancel()
    if fired.is_set():
        raise BenchError(f"timed out after {timeout:g}s and was killed")
    return status


def _kill_session(pid: int, fired: threading.Event) -> None:
    fired.set()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def sweep(mark: str) -> int:
    """Kill what outlived a measured process; give it `LINGER_SECONDS` to exit on its own
    first, since pools may take a moment to notice their parent is gone."""
    deadline = time.monotonic() + LINGER_SECONDS
    survivors = _marked(mark)
    while survivors and time.monotonic() < deadline:
        time.sleep(0.05)
        survivors = _marked(mark)
    for proc in survivors:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return len(survivors)


def _marked(mark: str) -> list[psutil.Process]:
    """Live processes whose environment carries this run's marker."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.environ().get(MARKER) == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def alternate(approaches: Sequence[Approach], rounds: int, scratch: Path,
              timeout: float) -> dict[str, Row]:
    """Run every approach once per round, in an order rotated each round; an approach that
    fails once is dropped from later rounds and its row says why."""
    rows = {a.name: Row(a.name, note=f"skipped: {a.skip}" if a.skip else "") for a in approaches}
    live = [a for a in approaches if not a.skip]
    for skipped in (a for a in approaches if a.skip):
        _progress(f"  note: skipping {skipped.name}: {skipped.skip}")
    for round_ in range(rounds):
        shift = round_ % len(live) if live else 0
        for approach in live[shift:] + live[:shift]:
            if not rows[approach.name].note:
                _measure_into(rows[approach.name], approach, round_, scratch, timeout)
        _progress(f"  round {round_ + 1}/{rounds} done")
    return rows


def _measure_into(row: Row, approach: Approach, round_: int, scratch: Path,
                  timeout: float) -> None:
    """Add one sample; on a failure drop the row's earlier samples too, so no median or
    verdict rests on the rounds that happened to work."""
    try:
        outcome = run_process(approach.command(round_), scratch, timeout)
        if outcome.leaked:
            raise BenchError(f"{outcome.leaked} process(es) outlived it and were killed")
        row.samples.append(approach.score(outcome, round_))
    except (BenchError, OSError) as exc:
        row.note = f"FAILED in round {round_ + 1}: {exc}"
        row.samples.clear()
        _progress(f"  {approach.name}: {row.note}\n{getattr(exc, 'detail', '')}".rstrip())


def succeeded(outcome: Outcome) -> None:
    """The minimal check: the process said it succeeded. The table gets the last line of
    its output, usually the error itself (a traceback ends with it); stderr gets more."""
    if outcome.returncode != 0:
        lines = (outcome.stderr or outcome.stdout).strip().splitlines()
        raise BenchError(f"exit code {outcome.returncode}: {''.join(lines[-1:])[:200]}",
                         "\n".join(lines[-15:]))


def seconds(outcome: Outcome, round_: int) -> float:
    """Score by wall time, for approaches whose exit code is all there is to check."""
    succeeded(outcome)
    return outcome.seconds


def _progress(message: str) -> None:
    """Progress goes to stderr so stdout stays the tables alone."""
    print(message, file=sys.stderr, flush=True)
