"""Outcomes the runner writes itself, for attempts that could not say how they ended.

A worker that died, a process stopped by the runner, an attempt never started or
never sent: none of them sent an Outcome, so one is made here from what the engine
or its executor saw (the pid and start time from the slot table or the spawn), with
an error that says what happened, what caused it, and what the runner did about it.
The engine and the executors build them here alone.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

from runner.events import ErrorInfo, Outcome, TaskStatus, amend, death_error, signal_name

if TYPE_CHECKING:
    from runner.engine.attempts import Attempt
    from runner.executors.base import Culprit


def synthetic(attempt: Attempt, status: TaskStatus, now: float | None = None) -> Outcome:
    """An outcome with what was seen of the attempt, and nothing more."""
    now = time.time() if now is None else now
    seen = attempt.running
    return Outcome(attempt.key, status, seen.started if seen else now, now,
                   seen.pid if seen else 0, seen.ppid if seen else 0,
                   seen.process_name if seen else "", socket.gethostname())


def crashed(attempt: Attempt, culprit: Culprit, now: float) -> Outcome:
    """The attempt whose worker died under it, with what it wrote before."""
    seen = attempt.running
    return Outcome(attempt.key, TaskStatus.CRASHED, seen.started if seen else now, now,
                   culprit.pid, seen.ppid if seen else os.getpid(),
                   seen.process_name if seen else "", seen.host if seen else socket.gethostname(),
                   exit_code=culprit.exit_code, error=death_error(culprit.exit_code, culprit.pid),
                   stdout=culprit.stdout, stderr=culprit.stderr)


def unsent(key: int, error: BaseException) -> Outcome:
    """The outcome of an attempt the pool could not even hand to a worker."""
    now = time.time()
    info = ErrorInfo(type(error).__name__, f"could not be sent to a worker: {error}")
    return Outcome(key, TaskStatus.FAILED, now, now, os.getpid(), os.getppid(), "runner",
                   socket.gethostname(), error=info)


def not_started(key: int, error: ErrorInfo, started: float | None = None,
                exit_code: int | None = None) -> Outcome:
    """An attempt handed out that never ran: a command that could not be spawned, a task
    Dask could not run."""
    now = time.time()
    return Outcome(key, TaskStatus.FAILED, now if started is None else started, now, 0,
                   os.getpid(), "", socket.gethostname(), exit_code=exit_code, error=error)


def died_alone(key: int, name: str, started: float, pid: int, exit_code: int | None,
               output: tuple[str, str]) -> Outcome:
    """An attempt whose own process (`executor: process`) exited without an outcome, with
    what it wrote before."""
    out, err = output
    return Outcome(key, TaskStatus.CRASHED, started, time.time(), pid, os.getpid(), name,
                   socket.gethostname(), exit_code=exit_code,
                   error=death_error(exit_code, pid, "task's process"), stdout=out, stderr=err)


def lost_too_often(attempt: Attempt, limit: int) -> Outcome:
    return amend(synthetic(attempt, TaskStatus.CRASHED), error=ErrorInfo(
        "ProcessLost", f"the attempt was lost with its pool {limit} times; it may be what "
        "kills the pool (look for a crash in its own code), so it is not run again"))


def gone_after_kill(attempt: Attempt, reason: TaskStatus) -> Outcome:
    return amend(synthetic(attempt, reason), error=ErrorInfo(
        "Lost", "no outcome arrived after SIGKILL; the attempt's process is gone"))


def stop_error(attempt: Attempt, outcome: Outcome, *, signame: str, grace: float,
               cause: str, kill_all: bool) -> ErrorInfo:
    """Why the runner stopped the attempt, and what finally ended it."""
    how = ""
    if outcome.exit_code is not None and outcome.exit_code < 0:
        how = f"; it ended by {signal_name(-outcome.exit_code)}"
    if attempt.stop_reason is TaskStatus.TIMEOUT:
        return ErrorInfo("Timeout", f"still running after its {attempt.task.timeout:g}s "
                         f"timeout: sent {signame} to its process tree, SIGKILL "
                         f"{grace:g}s later if still alive{how}")
    sent = "SIGKILL" if kill_all else signame
    return ErrorInfo("Interrupted", f"stopped by {cause}: sent {sent} to its process tree{how}")
