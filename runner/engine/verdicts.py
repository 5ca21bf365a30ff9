"""Outcomes the runner writes itself, for attempts that could not say how they ended.

Flow: engine -> **verdicts** (an Outcome for a crash, a stop, a cancellation).

A worker that died, a process stopped by the runner, an attempt never started:
none of them sent an Outcome, so one is made here from what the engine saw
(the pid and start time from the slot table or the spawn), with an error that
says what happened, what caused it, and what the runner did about it.
"""

from __future__ import annotations

import os
import socket
import time

from runner.engine.attempts import Attempt
from runner.events import ErrorInfo, Outcome, TaskStatus, amend, death_error, signal_name
from runner.executors import Culprit


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
