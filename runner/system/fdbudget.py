"""Enough file descriptors for the run, checked before anything starts.

Flow: api.run -> **fdbudget** (raise the soft limit, or refuse) -> engine.

Every worker and every running command holds descriptors in the runner: a pool
worker its sentinel and its pipe, a `process` worker also its result pipe and
pidfd, a command its stdout and stderr pipes and pidfd. Running out half-way
through a start-up leaves a pool half made, which is the worst moment to fail.
So the runner counts what the job needs first, raises its soft limit up to the
hard one when that is enough, and otherwise refuses with exit 3 before starting
anything. The costs are measured peaks (`/proc/PID/fd` sampled while 2, 8 and 24
workers run, under fork, spawn and forkserver), rounded up.
"""

from __future__ import annotations

import os

from runner.errors import RunnerError
from runner.jobfile.job import CallTask, Job

PER_CALL_WORKER = {"pool": 2, "mp-pool": 2, "process": 4, "dask": 0}
"""Descriptors the runner holds for each worker running callables, by executor."""
PER_COMMAND = 3
"""A running command's stdout and stderr pipes and its pidfd."""
RUN = 12
"""The run's own: journal and its lock, the state record, the guardian, the event loop."""
SLACK = 8
"""Descriptors open for a moment: both ends of new pipes while a process starts."""


def needed(job: Job, workers: int, open_now: int | None = None) -> int:
    """Descriptors the runner needs at its peak for `job` on `workers` workers."""
    per_worker = _per_worker(job)
    return (_open_now() if open_now is None else open_now) + RUN + SLACK + per_worker * workers


def ensure(job: Job, workers: int) -> None:
    """Make sure the run has the descriptors it needs: raise the soft limit (never beyond
    the hard one) when it is too low; raise a RunnerError (exit 3) when even the hard
    limit is, naming both numbers and the number of workers that would fit."""
    try:
        import resource
    except ImportError:  # no rlimits here (Windows): nothing to check
        return
    want = needed(job, workers)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if want <= soft:
        return
    if hard == resource.RLIM_INFINITY or want <= hard:
        target = want if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return
        except (ValueError, OSError):
            pass
    raise RunnerError(_refusal(job, workers, want, soft, hard))


def _refusal(job: Job, workers: int, want: int, soft: int, hard: int) -> str:
    fit = max((soft - (want - _per_worker(job) * workers)) // max(_per_worker(job), 1), 0)
    hint = f"run with --workers {fit} or raise" if fit else "raise"
    return (f"too few file descriptors: {workers} workers on {job.executor} need about "
            f"{want}, and this process may open {soft} (ulimit -n; the hard limit is {hard}, "
            f"so the runner cannot raise it): {hint} the limit (ulimit -n {want})")


def _per_worker(job: Job) -> int:
    calls = any(isinstance(task, CallTask) for task in job.tasks)
    commands = any(not isinstance(task, CallTask) for task in job.tasks)
    dask = job.executor == "dask"  # commands run on Dask's workers, not here
    return (PER_CALL_WORKER[job.executor] if calls else 0) + (
        PER_COMMAND if commands and not dask else 0)


def _open_now() -> int:
    """Descriptors open in this process now (a Python caller may hold many)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return 8
