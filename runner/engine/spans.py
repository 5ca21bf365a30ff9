"""Spans: runs of consecutive plan tasks that one pool worker renders, runs and journals
itself, so the runner renders, pickles and journals nothing per task that ends ok.

A span is handed out as one message (`plan.Span`: entry, offsets, keys) and holds a
place per task, like a batch. The worker (runner.worker.spans) sends back the journal
lines of the tasks that ended ok at their first attempt, their count, and an Outcome
for each of the others. A task of a span has no Attempt until something needs one: a
timeout or a stop while it runs, a failure or a crash when it ends; `Spans.adopt`
makes it then, and from there it is an attempt like any other.

`enabled` is the one switch, decided once per run.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.engine.attempts import Attempt, AttemptState, InFlight
from runner.events import Sink, SpanOutcome
from runner.executors.base import Capabilities
from runner.jobfile.job import Job
from runner.plan import Plan, Span


def enabled(job: Job, capabilities: Capabilities, skip: frozenset[str],
            sinks: Sequence[Sink]) -> bool:
    """Whether a run sends spans. Only when nothing needs its tasks one by one:

    - every sink says `accepts_spans` (the journal, the progress bar and the console
      do, the API's collector never: it keeps every task's record);
    - the executor's workers can render the plan (`Capabilities.spans`: pool, mp-pool);
    - the mode is async (sync runs one task at a time);
    - workers are not recycled (`max_tasks_per_worker` sends one task per message, so a
      worker stops exactly at its limit);
    - no task is skipped (a resume): a worker runs every task of its span;
    - no `logs:` (each attempt's files are named by the runner).
    """
    return (capabilities.spans and job.mode != "sync" and job.max_tasks_per_worker is None
            and not skip and job.logs is None and all(sink.accepts_spans for sink in sinks))


def rows_wanted(sinks: Sequence[Sink]) -> bool:
    """Whether span workers send a row per ok task: only for a sink that prints each task
    (the console, not quiet); a quiet run pays nothing for them."""
    return any(sink.span_rows for sink in sinks)


class SpanInFlight:
    """A span sent to a worker: how many of its tasks are not settled yet, and which
    were settled one by one (after the engine had to make an Attempt of them)."""

    __slots__ = ("left", "settled", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.left = span.size
        self.settled: set[int] = set()


class Spans:
    """The engine's side of the spans in flight: their replies, and an Attempt for one of
    their tasks once something needs it."""

    def __init__(self, plan: Plan, in_flight: InFlight) -> None:
        self._plan = plan
        self._in_flight = in_flight

    def adopt(self, key: int) -> Attempt | None:
        """An Attempt for the task of a span under `key`, None if no span holds it. It
        keeps its place in the span."""
        flight = self._in_flight.span_of(key)
        if flight is None:
            return None
        span, offset = flight.span, key - flight.span.key
        task = self._plan.render(span.entry, span.offset + offset, span.first + offset)
        attempt = Attempt(key, task, 1, span.seq + offset)
        attempt.span = span.key
        self._in_flight.adopt(attempt)
        return attempt

    def needs_attempt(self, key: int, stopping: bool) -> bool:
        """A task of a span seen running needs an Attempt only to be timed out or stopped."""
        flight = self._in_flight.span_of(key)
        if flight is None:
            return False
        entry = self._plan.entries[flight.span.entry]
        return stopping or entry.timeout is not None or (
            self._plan.job.enforce_memory and "memory" in entry.claims)

    def settle(self, reply: SpanOutcome) -> Span | None:
        """The reply's ok tasks are done with: their places are free, and those that were
        given an Attempt (seen running) are done too. None if the span is gone already."""
        flight = self._in_flight.spans.get(reply.key)
        if flight is None:
            return None
        span = flight.span
        others = {outcome.key for outcome in reply.others}
        adopted = [a for a in self._in_flight.attempts.values() if a.span == span.key
                   and a.key < span.key + reply.done and a.key not in others]
        # The tasks that ended ok without an Attempt first: the adopted ones still hold
        # places then, so the span is deleted with the last of those, not before.
        self._in_flight.settle(span.key, reply.ok - len(adopted))
        for attempt in adopted:
            attempt.move(AttemptState.DONE)
            self._in_flight.remove(attempt)
        return span
