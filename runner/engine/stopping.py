"""When a run stops early, and what it says about it the moment it does.

The engine decides to stop; this module turns that decision and the job's policies
(`on_failure`, `shutdown`) into the event a person reads at once: why the run stops,
what happens to the running and the queued tasks, and what would stop them sooner.
"""

from __future__ import annotations

import math
import signal
import time

from runner.events import StopRequested, signal_name
from runner.jobfile.job import Job


def failure_threshold(limit: int | float, total: int) -> int:
    """`max_failures` as a count: a fraction is of the run's tasks, at least one."""
    if isinstance(limit, float):
        return max(1, math.ceil(limit * total))
    return limit


def stop_event(job: Job, why: str, *, signalled: int | None, failures: int, running: int,
               queued: int, now: bool = False, interrupt: bool = False,
               cause: str | None = None) -> StopRequested:
    """The announcement of a stop for `why` (`signal`, or the `on_failure` policy that
    `failures` set off); `now` for the second signal, which stops every running task;
    `interrupt` when the signal came with a request to stop running tasks at once
    (`runner kill --now` or `--grace`) whatever `shutdown.wait` says; `cause` says why an
    abort that no count set off happened (an `abort_on` rule)."""
    if why != "signal":
        cause = cause or f"max_failures reached ({failures} failed), on_failure: {why}"
        return StopRequested(time.time(), cause, running, queued, cancel_queued=True,
                             stop_running=why != "stop")
    name = signal_name(signalled or signal.SIGTERM)
    if now:
        return StopRequested(time.time(), f"second {name}", running, 0, cancel_queued=True,
                             stop_running=True, now=True)
    waits = job.shutdown.wait and not interrupt
    again = "Ctrl-C again" if signalled == signal.SIGINT else f"another {name}"
    return StopRequested(time.time(), name, running, queued,
                         cancel_queued=job.shutdown.cancel_pending, stop_running=not waits,
                         again=again if waits else None)
