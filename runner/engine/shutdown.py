"""The engine's stop policy: what `on_failure` stop/abort and signals to the runner do
to the work in flight and the work not handed out yet, under the job's `shutdown`.

A part of `Engine` kept in a module of its own (the class mixes it in): it decides
nothing about single attempts, only which of them stop, which are cancelled, and what
the run says about it (runner.engine.stopping words the event).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from runner.engine import verdicts
from runner.engine.attempts import Attempt, InFlight
from runner.engine.recorder import Recorder
from runner.engine.signals import SignalCatcher
from runner.engine.stopping import stop_event
from runner.events import Outcome, TaskStatus, signal_name
from runner.executors.base import Executor
from runner.jobfile.job import Job

if TYPE_CHECKING:
    from runner.engine.admission import Admission
    from runner.engine.needs import Ready


class ShutdownPolicy:
    """Stopping a run: mixed into `Engine`, whose state it reads and whose attempts it
    stops or cancels through the engine's own verbs."""

    job: Job
    record: Recorder
    _admission: Admission
    _in_flight: InFlight
    _ready: Ready | None
    _calls: Executor
    _commands: Executor
    _executors: tuple[Executor, ...]
    _signals: SignalCatcher
    _stopping: str | None
    _stopped_by: str | None
    _signalled: int | None
    _abort_cause: str | None
    _kill_all: bool
    _interrupt: bool
    _grace: float
    _failures: int
    _attempt: Callable[[int], Attempt | None]
    _stop_attempt: Callable[[Attempt, TaskStatus], None]
    _final: Callable[[Attempt, Outcome], None]

    def _stop(self, why: str) -> None:
        """No new work. `stop` lets running tasks finish; `abort` and a signal with
        `wait: false` stop them; pending work is cancelled unless told to drain it."""
        if self._stopping is None:  # before cancelling: it counts what is cancelled
            self._announce_stop(why, interrupt=self._interrupt or self._kill_all)
            self._stopping = why
        if not self._admission.closed:  # also when a later signal ends what `stop` kept
            shared = self._calls is self._commands
            keep, keep_calls = self._ready.kept(why, shared) if self._ready else (False, False)
            if not keep:  # else the cleanup under `if: always` still runs
                self._admission.close()
            self._cancel_unadmitted(keep)
            if self._cancel_pending() and not keep_calls:
                self._calls.close()
                self._cancel_requeued()
        interrupt = why == "abort" or (
            why == "signal" and (self._interrupt or not self.job.shutdown.wait))
        if interrupt or self._kill_all:
            for seen in self._calls.running():  # tasks of spans get their Attempts now
                self._attempt(seen.key)
            for attempt in list(self._in_flight.attempts.values()):
                self._stop_attempt(attempt, TaskStatus.INTERRUPTED)

    def _cancel_pending(self) -> bool:
        return self._stopping != "signal" or self.job.shutdown.cancel_pending

    def _cancel_unadmitted(self, keep_always: bool = False) -> None:
        """Tasks the plan has not handed out yet are cancelled. They are counted, not
        journaled one by one, so stopping a million-task run does not write a million lines;
        a task waiting for its retry gets a `cancelled` record for the attempt it never made."""
        self.record.cancelled_unjournaled(self._admission.cancel_unadmitted(keep_always))
        now = time.time()
        for placeholder in list(self._in_flight.retrying.values()):
            self._in_flight.release(placeholder.key)
            self._final(placeholder, verdicts.synthetic(placeholder, TaskStatus.CANCELLED, now))
        for parked in self._admission.take_parked():
            self._final(parked, verdicts.synthetic(parked, TaskStatus.CANCELLED, now))

    def _cancel_requeued(self) -> None:
        now = time.time()
        for attempt in self._admission.take_requeued():
            self._final(attempt, verdicts.synthetic(attempt, TaskStatus.CANCELLED, now))

    def _handle_signals(self) -> None:
        while (caught := self._signals.take()) is not None:
            signum, request = caught  # `runner kill --now` or `--grace D` says how
            if self._signalled is None:
                self._signalled = signum
                if self._stopping is not None:  # stopping already: say what the signal adds
                    self._announce_stop("signal")
            elif not self._kill_all:
                self._kill_all = True
                self._announce_stop("signal", now=True)
            self._kill_all |= request.now
            if request.grace is not None:
                self._grace, self._interrupt = request.grace, True
            self._stop("signal")

    def _announce_stop(self, why: str, *, now: bool = False, interrupt: bool = False) -> None:
        """Tell the sinks at once what stopping means (see runner.engine.stopping)."""
        running = len({seen.key for executor in self._executors for seen in executor.running()})
        queued = max(len(self._in_flight) - running, 0) + self._admission.unadmitted
        event = stop_event(self.job, why, signalled=self._signalled, failures=self._failures,
                           running=running, queued=queued, now=now, interrupt=interrupt,
                           cause=self._abort_cause)
        if not now:
            self._stopped_by = ", then ".join(filter(None, (self._stopped_by, event.cause)))
        self.record.stopping(event)

    def _stop_cause(self) -> str:
        signalled = signal_name(self._signalled) if self._signalled else "a signal"
        causes = {"abort": self._abort_cause or "on_failure: abort",
                  "signal": f"{signalled} to the runner"}
        return causes.get(self._stopping or "", self._stopping or "a stop")
