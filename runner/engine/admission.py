"""Handing out work: the plan's next tasks, and attempts that must run again, to the
executors, as far as the places in flight allow. The engine asks for more whenever
places free up, and stops it through its verbs (`close`, `cancel_unadmitted`).

Commands go one at a time (each is a process of its own); calls go in batches sized
to about BATCH_SECONDS of work, or as spans of consecutive plan tasks that a worker
renders itself (when runner.engine.spans says so). An attempt requeued after
someone else's crash goes before the plan's next task. Attempt keys are numbered
here, retries' too, so that every attempt of a run has its own.

Claims (runner.engine.claims) and the live guards (runner.engine.guards) are consulted
here and kept there: a task starts only when its claims fit and the guards let it; one
that cannot start yet is parked there, in plan order, and goes first once it can.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from runner.engine.attempts import Attempt, BatchSizer, InFlight
from runner.engine.claims import Claims
from runner.engine.guards import LiveGuards
from runner.engine.needs import Ready
from runner.engine.spans import SpanInFlight
from runner.executors.base import Executor
from runner.journal import logfiles
from runner.journal.logfiles import Logs
from runner.plan import Cursor, Plan, PlannedTask
from runner.worker.work import CommandWork, Work


class Admission:
    def __init__(self, plan: Plan, total: int, in_flight: InFlight, sizer: BatchSizer, *,
                 calls: Executor, commands: Executor, skip: frozenset[str],
                 use_spans: bool, logs: Logs | None = None,
                 only: Callable[[PlannedTask], bool] | None = None,
                 ready: Ready | None = None) -> None:
        self._sizer = sizer
        self._total = total
        self._admitted = 0
        self._plan_done = False
        self._closed = False
        self._ready = ready
        self._cursor: Cursor | Ready = Cursor(plan) if ready is None else ready
        self._entries = plan.entries
        self._in_flight = in_flight
        self._calls = calls
        self._commands = commands
        self._skip = skip
        self._only = only
        self._use_spans = use_spans
        self._logs = logs
        self._keys = 0
        self._requeued: deque[Attempt] = deque()
        self._claims = Claims(plan.job, in_flight.cap)
        self._guards = LiveGuards.of(plan.job.admission)
        if self._claims.enabled:
            in_flight.freed = self._claims.give_back

    @property
    def pending(self) -> bool:
        """Work not handed out yet: requeued attempts, or tasks left in the plan."""
        return bool(self._requeued) or not self._plan_done or bool(self._claims.waiting)

    @property
    def claims_of(self) -> Callable[[int, int], dict[str, int]] | None:
        """What attempt n of a task of entry e claims; None when no task claims anything."""
        return self._claims.claim if self._claims.enabled else None

    @property
    def held(self) -> bool:
        """The live guards hold new starts back (the engine asks again on its tick)."""
        return self._guards is not None and self._guards.held

    @property
    def unadmitted(self) -> int:
        """Tasks of the plan not handed out yet (none once the plan is done or cancelled)."""
        return 0 if self._plan_done else self._total - self._admitted

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Hand out nothing more (a stop): neither the plan's tasks nor requeued attempts."""
        self._closed = True

    def cancel_unadmitted(self, keep_always: bool = False) -> int:
        """Give up the plan's tasks not handed out yet; how many that leaves out. In a
        pipeline, `keep_always` keeps the tasks under `if: always` (see runner.engine.needs)."""
        if self._ready is not None:
            self._ready.cancel(keep_always)
            left = self._ready.take_cancelled()
            self._total -= left
            self._plan_done = self._ready.done
            return left
        left = max(self._total - self._admitted, 0)
        self._plan_done = True
        return left

    def settle(self, task: PlannedTask) -> Attempt:
        """An attempt for a task that ends without being handed out (skipped): it takes
        its place in the order tasks are admitted."""
        return self._new_attempt(task)

    def learn(self, entry: int, seconds: float, count: int) -> None:
        """`count` tasks of the entry took `seconds` in all: the next batches are sized by it."""
        self._sizer.learn(entry, seconds, count)

    def admit(self) -> None:
        """Hand out work while there is room, until the plan is done or this is closed
        (a stop; which may come while handing out, from a command that cannot start)."""
        if self._guards is not None and self._guards.holding():
            return
        while not self._closed:
            if self._requeued:
                if not self._admit_requeued():
                    return
                continue
            if self._claims.waiting and (parked := self._claims.unpark(self._room)):
                self._send(parked)
                continue
            task = self._peek()
            if task is None:
                return
            claim = self._claims.claim(task.entry) if self._claims.enabled else None
            if claim and not self._claims.fits(claim):
                if not self._claims.may_park(task):
                    return
                self._cursor.take()
                self._claims.park(self._new_attempt(task))
            elif task.call is None:
                if not self._in_flight.room_for_command():
                    return
                self._cursor.take()
                self._claims.take(self._keys + 1, claim)
                self._send(self._new_attempt(task))
            elif not self._admit_calls(task, claim):
                return

    def new_key(self) -> int:
        self._keys += 1
        return self._keys

    def requeue(self, attempt: Attempt) -> None:
        self._requeued.append(attempt)

    def take_requeued(self) -> list[Attempt]:
        """The requeued attempts, handed back to be cancelled."""
        taken = list(self._requeued)
        self._requeued.clear()
        return taken

    def take_parked(self) -> list[Attempt]:
        """The attempts waiting for their claims or the live guards, handed back to be
        cancelled: on a stop they never start, like the plan's tasks not handed out."""
        return self._claims.take_waiting()

    def submit(self, attempt: Attempt) -> None:
        """Send a retry or a requeued attempt, or park it until its claims fit and the
        live guards let it start."""
        claim = self._claims.claim(attempt.task.entry, attempt.number)
        if (self._guards is not None and self._guards.holding()) \
                or not self._claims.fits(claim):
            self._claims.park(attempt)
            return
        self._claims.take(attempt.key, claim)
        self._send(attempt)

    def _send(self, attempt: Attempt) -> None:
        task = attempt.task
        if task.call is None:
            assert task.command is not None
            self._in_flight.add_command(attempt)
            self._commands.submit([CommandWork(attempt.key, task.command, task.env, task.cwd,
                                               task.name, self._stem(attempt),
                                               self._entries[task.entry].result)])
        else:
            self._submit_calls([attempt])

    def _admit_calls(self, task: PlannedTask, claim: dict[str, int] | None) -> bool:
        room = self._in_flight.room_for_calls(self._sizer.size(task.entry))
        if room <= 0:
            return False
        self._claims.take(self._keys + 1, claim)  # held by the batch or span, see claims
        if self._use_spans and room > 1 and (self._ready is None
                                             or self._ready.spannable(task.entry)):
            span = self._cursor.take_span(room, self._keys + 1, self._admitted)
            self._keys += span.size
            self._admitted += span.size
            self._in_flight.add_span(SpanInFlight(span))
            self._calls.submit(span)
            return True
        attempts = []
        while True:
            self._cursor.take()
            attempts.append(self._new_attempt(task))
            if len(attempts) >= room:
                break
            following = self._peek()
            if following is None or following.call is None or (
                    self._claims.enabled and following.entry != task.entry):
                break
            if following.entry != task.entry and self._sizer.size(following.entry) == 1:
                break  # a task of an entry not known to be short goes alone
            task = following
        self._submit_calls(attempts)
        return True

    def _admit_requeued(self) -> bool:
        attempt = self._requeued[0]
        if attempt.task.call is None:
            if not self._in_flight.room_for_command():
                return False
        elif self._in_flight.room_for_calls(1, requeue=True) <= 0:
            return False
        self._requeued.popleft()
        self.submit(attempt)
        return True

    def _room(self, attempt: Attempt) -> bool:
        if attempt.task.call is None:
            return self._in_flight.room_for_command()
        return self._in_flight.room_for_calls(1) > 0

    def _peek(self) -> PlannedTask | None:
        """The next task to hand out (rendered), skipping those a resume says are done
        and those `--only` leaves out of the run."""
        while not self._plan_done:
            task = self._cursor.peek()
            if task is None:
                self._plan_done = self._cursor.done
                return None
            if task.id in self._skip or (self._only is not None and not self._only(task)):
                self._cursor.take()
            else:
                return task
        return None

    def _new_attempt(self, task: PlannedTask) -> Attempt:
        self._admitted += 1
        return Attempt(self.new_key(), task, 1, self._admitted - 1)

    def _submit_calls(self, attempts: list[Attempt]) -> None:
        self._in_flight.add_calls(attempts)
        self._calls.submit([_call_work(attempt, self._stem(attempt)) for attempt in attempts])

    def _stem(self, attempt: Attempt) -> str | None:
        """Where the attempt's whole output goes, with `logs:`."""
        if self._logs is None:
            return None
        task = attempt.task
        stem = self._logs.stem(task.id, self._logs.number(task.id, attempt.number))
        if attempt.requeues:  # what it wrote before its worker was lost is not its record
            logfiles.discard(stem)
        return stem


def _call_work(attempt: Attempt, logs: str | None) -> Work:
    task = attempt.task
    assert task.call is not None
    return Work(attempt.key, task.call, task.args, task.kwargs, task.env, task.cwd, task.name,
                logs)
