"""The engine's run state for attempts in flight: their states, the places they hold, and
how many tasks of an entry go in one batch.

An attempt holds a place from submission until its outcome is handled. How
many places there are: one in all for `sync`; otherwise `places_per_worker`
(the executor's capability) per worker, each a command, or a call of a process
of its own, or, for calls sent in batches, two batches a place unless `backlog`
sets how many tasks in all. A batch holds as many short tasks as run in about
`BATCH_SECONDS`, learned from how long the entry's tasks have taken so far.

`cap`, when the runner spawns commands beside the calls' workers, bounds the tasks
running at once of both kinds together: commands are counted one by one, calls by
the messages in flight (a worker runs one message at a time, so at most `cap` of
them run). While no command is in flight, calls keep their places untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import TYPE_CHECKING

from runner.events import TaskStatus
from runner.executors.base import Running
from runner.plan import PlannedTask

if TYPE_CHECKING:
    from runner.engine.spans import SpanInFlight

BATCH_SECONDS = 0.02
MAX_BATCH = 512


class AttemptState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    DONE = "done"


_ALLOWED = {
    AttemptState.QUEUED: {AttemptState.RUNNING, AttemptState.STOPPING, AttemptState.DONE},
    AttemptState.RUNNING: {AttemptState.STOPPING, AttemptState.DONE},
    AttemptState.STOPPING: {AttemptState.DONE},
    AttemptState.DONE: set(),
}


class Attempt:
    """One try of one task, from submission to its outcome."""

    __slots__ = ("announced", "key", "number", "requeues", "running", "seq", "span", "state",
                 "stop_reason", "task")

    def __init__(self, key: int, task: PlannedTask, number: int, seq: int) -> None:
        self.key = key
        self.task = task
        self.number = number
        self.seq = seq
        self.state = AttemptState.QUEUED
        self.stop_reason: TaskStatus | None = None
        self.running: Running | None = None
        self.announced = False
        self.requeues = 0
        self.span: int | None = None
        """The first key of the span this attempt was sent in, if it was."""

    def move(self, state: AttemptState) -> None:
        if state not in _ALLOWED[self.state]:
            raise RuntimeError(f"attempt {self.key}: {self.state.value} -> {state.value}")
        self.state = state


class InFlight:
    """Submitted attempts by key, and the places they hold. Tasks sent in a span have
    no Attempt until something needs one (a timeout, a crash, a failure)."""

    def __init__(self, *, places: int, backlog: int | None, sync: bool,
                 process_per_call: bool, cap: int | None) -> None:
        self.attempts: dict[int, Attempt] = {}
        self.places = places
        self.cap = cap
        self.backlog = backlog
        self.sync = sync
        self.process_per_call = process_per_call
        self.calls = self.commands = self.batches = 0
        self.waiting_calls = self.waiting_commands = 0
        self.retrying: dict[int, Attempt] = {}
        self._batch_of: dict[int, int] = {}
        self._batch_left: dict[int, int] = {}
        self.spans: dict[int, SpanInFlight] = {}
        self.freed: Callable[[int], None] | None = None
        """Told the key of each message (command, batch, span) whose last task is done
        with, when set (runner.engine.claims gives back what it held)."""

    @property
    def busy(self) -> bool:
        return bool(self.attempts or self.spans or self.retrying)

    def __len__(self) -> int:
        return self.calls + self.commands + self.waiting_calls + self.waiting_commands

    def add_command(self, attempt: Attempt) -> None:
        self.attempts[attempt.key] = attempt
        self.commands += 1

    def add_calls(self, attempts: Sequence[Attempt]) -> None:
        """Attempts sent together, in one message to one worker."""
        batch = attempts[0].key
        for attempt in attempts:
            self.attempts[attempt.key] = attempt
            self._batch_of[attempt.key] = batch
        self._batch_left[batch] = len(attempts)
        self.calls += len(attempts)
        self.batches += 1

    def add_span(self, flight: SpanInFlight) -> None:
        self.spans[flight.span.key] = flight
        self.calls += flight.span.size
        self.batches += 1

    def span_of(self, key: int) -> SpanInFlight | None:
        """The span that holds `key`, unless that task is settled already."""
        for first, flight in self.spans.items():
            if first <= key < first + flight.span.size:
                return None if key in flight.settled else flight
        return None

    def adopt(self, attempt: Attempt) -> None:
        """A task of a span gets an Attempt; it keeps its place in the span."""
        self.attempts[attempt.key] = attempt

    def settle(self, first: int, count: int, keys: Sequence[int] = ()) -> None:
        """`count` tasks of the span are done with (`keys`: those that had Attempts)."""
        flight = self.spans[first]
        flight.settled.update(keys)
        flight.left -= count
        self.calls -= count
        if not flight.left:
            del self.spans[first]
            self.batches -= 1
            if self.freed is not None:
                self.freed(first)

    def remove(self, attempt: Attempt) -> None:
        """The attempt's outcome is handled (or it goes back to the queue)."""
        del self.attempts[attempt.key]
        if attempt.span is not None:
            self.settle(attempt.span, 1, (attempt.key,))
            attempt.span = None
            return
        if attempt.task.call is None:
            self.commands -= 1
            if self.freed is not None:
                self.freed(attempt.key)
            return
        self.calls -= 1
        batch = self._batch_of.pop(attempt.key)
        left = self._batch_left[batch] - 1
        if left:
            self._batch_left[batch] = left
        else:
            del self._batch_left[batch]
            self.batches -= 1
            if self.freed is not None:
                self.freed(batch)

    def hold(self, retry: Attempt) -> None:
        """A retry waiting for its delay keeps its task's place."""
        self.retrying[retry.key] = retry
        self._count_waiting(retry.task, +1)

    def release(self, key: int) -> Attempt | None:
        """The retry under `key`, its place given back; None if it was released already."""
        retry = self.retrying.pop(key, None)
        if retry is not None:
            self._count_waiting(retry.task, -1)
        return retry

    def _count_waiting(self, task: PlannedTask, change: int) -> None:
        if task.call is None:
            self.waiting_commands += change
        else:
            self.waiting_calls += change

    def room_for_command(self) -> bool:
        if self.sync:
            return len(self) == 0
        commands = self.commands + self.waiting_commands
        if self.cap is not None:
            return commands + min(self.cap, self.batches + self.waiting_calls) < self.cap
        return commands < self.places

    def room_for_calls(self, wanted: int, requeue: bool = False) -> int:
        """How many calls may go now, as one batch of at most `wanted`."""
        if self.sync:
            return 1 if len(self) == 0 else 0
        commands = self.commands + self.waiting_commands
        if commands and self.cap is not None and (
                commands + self.batches + self.waiting_calls >= self.cap):
            return 0
        if self.process_per_call:
            return min(wanted, self.places - self.calls - self.waiting_calls)
        if self.backlog is not None:
            return min(wanted, self.backlog - len(self))
        return wanted if self.batches < 2 * self.places or requeue else 0


class BatchSizer:
    """How many tasks of an entry to send in one message: enough to make a message
    worth its round trip, few enough that one batch runs for about BATCH_SECONDS."""

    def __init__(self, *, workers: int, backlog: int | None, single: bool) -> None:
        self.single = single
        self.cap = MAX_BATCH if backlog is None else max(1, backlog // (2 * workers))
        self._seconds: dict[int, float] = {}

    def learn(self, entry: int, seconds: float, count: int) -> None:
        """`count` tasks of the entry took `seconds` in all."""
        if not count:
            return
        mean = seconds / count
        previous = self._seconds.get(entry)
        self._seconds[entry] = mean if previous is None else 0.8 * previous + 0.2 * mean

    def size(self, entry: int) -> int:
        if self.single:
            return 1
        seconds = self._seconds.get(entry)
        if seconds is None:
            return 1
        return max(1, min(int(BATCH_SECONDS / max(seconds, 1e-6)), self.cap))
