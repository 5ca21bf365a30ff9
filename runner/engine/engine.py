"""All run policy: mode, backlog, batching, retries, timeouts, failures, signals, shutdown.

    plan (lazy) --admission, while in flight < limit--> batch --submit--> Executor
        ^                                                               |
        |   retry timer <-- failed, attempts left                       |
        |                                                               v
    sinks <-- TaskStarted / TaskFinished <-- outcome or loss <-- Listener (loop thread)
                                   ^
    tick: running() -> started events, timeouts -> stop(signal), SIGKILL after grace
    SIGINT/SIGTERM handler -> flag + wake -> StopRequested, `shutdown` -> drain -> JobFinished

Everything here runs on one thread, the loop's; executors call back into it
through `Loop.call_soon_threadsafe`, and signal handlers only set a flag.
Run state lives here, in `attempts` (what is in flight) and in `admission` (what is
handed out, and what waits to be): the plan and the job stay immutable.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import psutil

from runner.engine import failure_rules, needs, spans, verdicts
from runner.engine.admission import Admission
from runner.engine.attempts import Attempt, AttemptState, BatchSizer, InFlight
from runner.engine.recorder import Recorder
from runner.engine.shutdown import ShutdownPolicy
from runner.engine.signals import SignalCatcher
from runner.engine.stopping import failure_threshold
from runner.engine.usage import Usage
from runner.events import (
    JobFinished,
    Outcome,
    Sink,
    SpanOutcome,
    TaskStatus,
    amend,
)
from runner.executors.base import Executor, ExecutorSetup, Loss
from runner.executors.kinds import capabilities, open_executors
from runner.jobfile.job import Job
from runner.jobfile.values import MAX_SECONDS
from runner.journal.logfiles import Logs
from runner.plan import Plan, PlannedTask
from runner.system.loop import Loop, Timer
from runner.system.procs import signal_number
from runner.worker.work import WorkerSetup

FAILURES = failure_rules.FAILURES
_OK, _CANCELLED = TaskStatus.OK, TaskStatus.CANCELLED
TICK = 0.05
MAX_REQUEUES = 5
LOST_AFTER_KILL = 5.0


class EngineOptions(NamedTuple):
    run_id: str
    workers: int
    start_method: str = "auto"
    skip: frozenset[str] = frozenset()
    only: Callable[[PlannedTask], bool] | None = None
    """`--only`: the tasks that are part of the run (see runner.selection); None for all."""
    handle_signals: bool = True
    capture: str | None = None
    """The run's folder for the capture files of callables' output (see runner.worker.capture)."""
    logs: Logs | None = None
    """Where each attempt's whole output is kept, with `logs:` (see runner.journal.logfiles)."""
    received: dict[str, str] | None = None
    """Results recorded ok by the run resumed, by task id, for the tasks that need them."""


class Engine(ShutdownPolicy):
    def __init__(self, job: Job, plan: Plan, total: int, sinks: Sequence[Sink],
                 options: EngineOptions) -> None:
        self.job = job
        self.options = options
        self.total = total
        self.record = Recorder(sinks, job, options.run_id, options.workers, total, options.logs)
        self.loop = Loop()
        self._ready = needs.source(plan, options.skip, options.received, options.only)
        workers, sync, caps = options.workers, job.mode == "sync", capabilities(job.executor)
        use_spans = spans.enabled(job, caps, options.skip, sinks) and options.only is None
        self._in_flight = InFlight(places=workers * caps.places_per_worker, backlog=job.backlog,
                                   sync=sync, process_per_call=caps.process_per_call,
                                   cap=None if caps.commands_on_workers else workers)
        sizer = BatchSizer(workers=workers, backlog=job.backlog, single=sync or (
            not caps.batches or job.max_tasks_per_worker is not None))
        self._spans = spans.Spans(plan, self._in_flight)
        self._entries = plan.entries
        # on dask the workers' processes are not this machine's to sample
        self._usage = Usage(plan, enabled=not caps.commands_on_workers)
        self._abort_cause: str | None = None
        self._failures = 0
        self._stopping: str | None = None
        self._stopped_by: str | None = None
        self._signals = SignalCatcher(self.loop.wake, options.run_id)
        self._signalled: int | None = None
        self._kill_all = False
        self._interrupt = False  # stop running tasks even when `shutdown.wait` says let them
        self._ticker: Timer | None = None
        self._grace = job.shutdown.grace
        self._stop_signal = signal_number(job.shutdown.signal)
        self._limit_failures = failure_threshold(job.max_failures, total)
        me = psutil.Process()
        worker = WorkerSetup(options.run_id, me.pid, me.create_time(), str(job.folder),
                             job=job if use_spans else None, capture=options.capture,
                             rows=use_spans and spans.rows_wanted(sinks))
        self._calls, self._commands = open_executors(ExecutorSetup(
            job.executor, workers, options.start_method, job.max_tasks_per_worker,
            worker, self.loop, self, job.dask.address, job.dask.upload))
        # one executor may run both kinds (dask): asked once
        self._executors = tuple({id(e): e for e in (self._calls, self._commands)}.values())
        self._admission = Admission(plan, total, self._in_flight, sizer, calls=self._calls,
                                    commands=self._commands, skip=options.skip,
                                    # the ready source has settled what --only leaves out
                                    only=options.only if self._ready is None else None,
                                    use_spans=use_spans, logs=options.logs, ready=self._ready)
        self.record.claims = self._usage.claims = self._admission.claims_of

    # -- the run ---------------------------------------------------------------

    def run(self) -> JobFinished:
        started = time.time()
        self.record.job_started(started)
        with self._signals.installed(self.options.handle_signals):
            try:
                self._admission.admit()
                self._ticker = self.loop.call_later(TICK, self._tick)
                while self._busy():
                    self.loop.run_once(TICK)
                    self._handle_signals()
                    self.record.flush()
                self._ticker.cancel()
            except BaseException:
                self._kill_all = True  # a broken run must not wait for its tasks
                raise
            finally:
                self._shutdown_executors()
                self.loop.close()
            return self.record.job_finished(started, self._signalled, self._stopped_by)

    def _busy(self) -> bool:
        if self._ready is not None and not self._in_flight.busy and self._admission.pending:
            self._admission.admit()  # what is ready starts; if nothing is, nothing ever will
            self._ready.stalled(self._in_flight.busy)
        return bool(self._in_flight.busy or self._admission.pending)

    # -- what executors tell (the Listener protocol) ----------------------------

    def finished(self, outcomes: Sequence[Outcome]) -> None:
        attempts = self._in_flight.attempts
        ended = [(attempts[o.key], o) for o in outcomes if o.key in attempts]
        if ended:
            self._admission.learn(ended[0][0].task.entry,
                                  sum(o.finished - o.started for o in outcomes), len(outcomes))
        if all(o.status is _OK and a.stop_reason is None for a, o in ended):
            for attempt, _ in ended:  # nothing to decide: free their places first,
                attempt.move(AttemptState.DONE)
                self._in_flight.remove(attempt)
            if self._ready is not None:
                for attempt, outcome in ended:
                    self._ready.ended(attempt.task, outcome)
                self._skip_ready(self._ready)
            self._admission.admit()  # so the next tasks start before this bookkeeping is done
            for attempt, outcome in ended:
                self._record_ok(attempt, outcome)
            return
        for attempt, outcome in ended:
            self._conclude(attempt, outcome)
        self._admission.admit()

    def _record_ok(self, attempt: Attempt, outcome: Outcome) -> None:
        if self._usage.peaks:
            outcome = self._usage.settle(outcome)
        if not attempt.announced:
            self.record.started(attempt, outcome)
        self.record.ended(attempt, outcome)

    def span_finished(self, reply: SpanOutcome) -> None:
        """A span is back: its ok tasks are counted and journaled as the worker wrote them;
        the others go through `_conclude` like any attempt. Declined tasks arrive as a
        Loss right after."""
        span = self._spans.settle(reply)
        if span is None:
            return
        self._admission.learn(span.entry, reply.seconds, reply.done)
        self.record.span(reply.ok, reply.lines, span.seq, reply.rows)
        if self._ready is not None:
            self._ready.span_ended(span, reply.done, {o.key for o in reply.others})
            self._skip_ready(self._ready)
        for outcome in reply.others:
            other = self._attempt(outcome.key)
            if other is not None:
                self._conclude(other, outcome)
        self._usage.forget(reply.key, reply.done)  # its ok tasks measured themselves
        self._admission.admit()

    def _attempt(self, key: int) -> Attempt | None:
        """The attempt in flight under `key`, made now for a task sent in a span."""
        attempt = self._in_flight.attempts.get(key)
        return self._spans.adopt(key) if attempt is None else attempt

    def lost(self, loss: Loss) -> None:
        now = time.time()
        for culprit in loss.culprits:
            attempt = self._attempt(culprit.key) if culprit.key is not None else None
            if attempt is not None:
                self._conclude(attempt, verdicts.crashed(attempt, culprit, now))
        for key in loss.orphans:
            attempt = self._attempt(key)
            if attempt is not None:
                self._orphaned(attempt, now, loss.outputs.get(key, ("", "")))
        self._admission.admit()

    def _orphaned(self, attempt: Attempt, now: float, output: tuple[str, str]) -> None:
        """An attempt that vanished with someone else's worker: run it again, free of charge,
        unless the run is stopping (then it ends interrupted if it had started, else
        cancelled)."""
        if attempt.state is AttemptState.STOPPING or (self._stopping and self._cancel_pending()):
            if attempt.running is None:
                status = TaskStatus.CANCELLED
            else:
                attempt.stop_reason = attempt.stop_reason or TaskStatus.INTERRUPTED
                status = attempt.stop_reason
            out, err = output
            self._conclude(attempt, amend(verdicts.synthetic(attempt, status, now), stdout=out,
                                          stderr=err))
            return
        attempt.requeues += 1
        if attempt.requeues > MAX_REQUEUES:
            self._conclude(attempt, verdicts.lost_too_often(attempt, MAX_REQUEUES))
            return
        self._in_flight.remove(attempt)
        attempt.state, attempt.running = AttemptState.QUEUED, None
        self._admission.requeue(attempt)

    # -- concluding an attempt --------------------------------------------------

    def _conclude(self, attempt: Attempt, outcome: Outcome) -> None:
        entry = self._entries[attempt.task.entry]
        outcome = self._usage.settle(outcome)
        if attempt.stop_reason is None:
            outcome = failure_rules.judged(outcome, entry)
        status = outcome.status
        if attempt.stop_reason is not None and status is not _CANCELLED:  # cut: never ok
            signame = self.job.shutdown.signal
            outcome = amend(outcome, status=attempt.stop_reason, error=self._usage.exceeded(
                attempt.key, signame, self._grace) or verdicts.stop_error(
                attempt, outcome, signame=signame, grace=self._grace,
                cause=self._stop_cause(), kill_all=self._kill_all))
        if not attempt.announced and outcome.status is not _CANCELLED:
            self.record.started(attempt, outcome)
        attempt.move(AttemptState.DONE)
        self._in_flight.remove(attempt)
        task = attempt.task
        aborts = failure_rules.aborts(self.job.abort_on, outcome)
        if outcome.status in FAILURES and attempt.number <= task.retries and not self._stopping \
                and not aborts and failure_rules.retried(entry, outcome):
            delay = min(task.retry_delay * 2 ** (attempt.number - 1), MAX_SECONDS)
            self.record.ended(attempt, outcome, delay)
            self._schedule_retry(attempt, delay)
        else:
            self._final(attempt, outcome)
            if aborts and self._abort_cause is None:
                self._abort_cause = failure_rules.abort_cause(task.name, outcome)
                self._stop("abort")

    def _final(self, attempt: Attempt, outcome: Outcome) -> None:
        """Record the task's last word; failures count towards `on_failure`."""
        self.record.ended(attempt, outcome)
        if outcome.status in FAILURES:
            self._failures += 1
            if self._failures >= self._limit_failures and self.job.on_failure != "continue":
                self._stop(self.job.on_failure)
        if self._ready is not None:
            self._ready.ended(attempt.task, outcome)
            self._skip_ready(self._ready)

    def _skip_ready(self, ready: needs.Ready) -> None:
        """Tasks that needed what just ended and end now: skipped, or cancelled by a stop."""
        self.record.cancelled_unjournaled(ready.take_cancelled())
        for task, why in ready.take_skipped():
            attempt = self._admission.settle(task)
            self._final(attempt, needs.skipped_outcome(attempt.key, why))

    def _schedule_retry(self, failed: Attempt, delay: float) -> None:
        """The next attempt holds its task's place while it waits for its delay."""
        attempt = Attempt(self._admission.new_key(), failed.task, failed.number + 1, failed.seq)
        self._in_flight.hold(attempt)

        def retry() -> None:
            if self._in_flight.release(attempt.key) is not None:
                self._admission.submit(attempt)

        self.loop.call_later(delay, retry)

    # -- the tick: started events and timeouts ------------------------------------

    def _tick(self) -> None:
        now = time.time()
        running = []
        for seen in [seen for executor in self._executors for seen in executor.running()]:
            attempt = self._in_flight.attempts.get(seen.key)
            if attempt is None and self._spans.needs_attempt(seen.key, bool(self._stopping)):
                attempt = self._attempt(seen.key)
            if attempt is None:
                continue
            if attempt.state is AttemptState.QUEUED:
                attempt.move(AttemptState.RUNNING)
            attempt.running = seen
            if not attempt.announced and attempt.span is None:  # a span's worker journals it
                self.record.started(attempt)
            timeout = attempt.task.timeout
            if timeout is not None and attempt.state is AttemptState.RUNNING \
                    and now - seen.started > timeout:
                self._stop_attempt(attempt, TaskStatus.TIMEOUT)
            if attempt.state is AttemptState.RUNNING:
                running.append((attempt, seen))
        for attempt in self._usage.sample(now, running):  # over its memory claim
            self._stop_attempt(attempt, TaskStatus.FAILED)
        if self._admission.held:  # the live guards: nothing may end to ask again
            self._admission.admit()
        self._ticker = self.loop.call_later(TICK, self._tick)

    def _stop_attempt(self, attempt: Attempt, reason: TaskStatus) -> None:
        """Send the stop signal to the attempt's whole tree; SIGKILL after the grace period."""
        if attempt.state is AttemptState.DONE:
            return
        if attempt.state is not AttemptState.STOPPING:
            attempt.move(AttemptState.STOPPING)
            attempt.stop_reason = reason
        executor = self._executor_for(attempt.task)
        executor.stop(attempt.key, signal.SIGKILL if self._kill_all else self._stop_signal)

        def kill() -> None:
            if attempt.key in self._in_flight.attempts:
                executor.stop(attempt.key, signal.SIGKILL)
                self.loop.call_later(LOST_AFTER_KILL, give_up)

        def give_up() -> None:
            """SIGKILL cannot be ignored; if nothing was heard since, the process is gone
            and its executor lost track of it: conclude rather than wait forever."""
            if attempt.key in self._in_flight.attempts:
                self._conclude(attempt, verdicts.gone_after_kill(attempt, reason))

        self.loop.call_later(0 if self._kill_all else self._grace, kill)

    def _executor_for(self, task: PlannedTask) -> Executor:
        return self._commands if task.call is None else self._calls

    # -- the end ----------------------------------------------------------------------

    def _shutdown_executors(self) -> None:
        for executor in self._executors:
            with contextlib.suppress(Exception):
                executor.shutdown(not self._kill_all)
