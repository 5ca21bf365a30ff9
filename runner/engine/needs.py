"""The tasks of a pipeline that may start now, in plan order: admission's source of tasks
when entries need others (a plain `plan.Cursor` otherwise).

Flow: plan -> matching -> **needs** -> admission -> executors; the engine tells it
every task's last word (`ended`), and it answers with the tasks that became ready,
or that end `skipped` because their `if` says so (`take_skipped`).

State is one byte per task (waiting, ready, decided), so the next ready task of an
entry is one `bytearray.find` away, plus the per-group counts of `matching.Item`;
the entries that have ready tasks are a heap, so the first of them is found without
looking at every entry (a pipeline of thousands of entries would pay for each task).
Stages are not barriers: a task is ready as soon as every group it needs has ended.
Results are kept only of entries whose results feed an `as`.
"""

from __future__ import annotations

import heapq
import json
import socket
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from runner.engine.matching import Item, digits, items_of
from runner.errors import RunnerError
from runner.events import ErrorInfo, Outcome, TaskStatus
from runner.journal.format import made
from runner.plan import Plan, PlannedTask, Span

WAITING, READY, DECIDED = 0, 1, 2
FAILED_BIT, OTHER_BIT = 1, 2
FAILING = frozenset({TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CRASHED,
                     TaskStatus.INTERRUPTED})
SHOWN = 5


def source(plan: Plan, skip: frozenset[str], results: dict[str, str] | None = None,
           only: Callable[[PlannedTask], bool] | None = None) -> Ready | None:
    """A Ready source when some entry has needs; None keeps the plain cursor."""
    if not any(entry.needs for entry in plan.entries):
        return None
    return Ready(plan, skip, results or {}, only)


class Ready:
    """peek / take / take_span like `plan.Cursor`, over the tasks whose needs have ended."""

    def __init__(self, plan: Plan, skip: frozenset[str], recorded: dict[str, str],
                 only: Callable[[PlannedTask], bool] | None = None) -> None:
        self._entries = entries = plan.entries
        self._items = items_of(entries, [entry.needs for entry in entries])
        self._feeds: list[list[Item]] = [[] for _ in entries]
        for items in self._items:
            for item in items:
                item.check_bindings()
                self._feeds[item.needed].append(item)
        self._starts, start = [], 0
        for entry in entries:
            self._starts.append(start)
            start += entry.count
        self._state = [bytearray(entry.count) if items else bytearray(b"\x01") * entry.count
                       for entry, items in zip(entries, self._items)]
        self._ready = [0 if items else entry.count for entry, items in zip(entries, self._items)]
        self._with_ready = [entry for entry, count in enumerate(self._ready) if count]
        """Entries that may have ready tasks, a heap; every one that has them is in it,
        once (`_queued`), however often its tasks become ready one by one."""
        self._queued = bytearray(len(entries))
        for position in self._with_ready:
            self._queued[position] = 1
        self._low = [0] * len(entries)
        self._left = start
        self._results: dict[int, dict[int, str]] = {
            item.needed: {} for items in self._items for item in items if item.alias}
        self._skipped: deque[tuple[PlannedTask, str]] = deque()
        self._peeked: PlannedTask | None = None
        self._stopped = False
        self._keep_always = False
        self._cancelled = 0
        if skip or only is not None:
            self._settled(skip, recorded, only)
        for items in self._items:
            for item in items:
                if item.size == 0:  # a fan-in over nothing is satisfied at once
                    for group in range(item.groups):
                        self._group_done(item, group)

    # -- the Cursor interface --------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._left <= 0

    def peek(self) -> PlannedTask | None:
        entry = self._first_ready() if self._peeked is None else None
        if entry is not None:
            offset = self._state[entry].find(READY, self._low[entry])
            self._low[entry] = offset
            self._peeked = self._render(entry, offset)
        return self._peeked

    def _first_ready(self) -> int | None:
        """The first entry with a ready task (entries left without one leave the heap)."""
        heap = self._with_ready
        while heap and not self._ready[heap[0]]:
            self._queued[heapq.heappop(heap)] = 0
        return heap[0] if heap else None

    def _more_ready(self, entry: int, count: int) -> None:
        if count and not self._queued[entry]:
            heapq.heappush(self._with_ready, entry)
            self._queued[entry] = 1
        self._ready[entry] += count

    def take(self) -> PlannedTask | None:
        task = self.peek()
        if task is not None:
            self._decide(task.entry, task.index - self._starts[task.entry], 1)
        return task

    def take_span(self, limit: int, key: int, seq: int) -> Span:
        """Up to `limit` consecutive ready tasks of the entry of the next ready task."""
        task = self.peek()
        assert task is not None
        entry, first = task.entry, task.index - self._starts[task.entry]
        state, end = self._state[entry], min(first + limit, len(self._state[entry]))
        for other in (WAITING, DECIDED):
            found = state.find(other, first, end)
            end = end if found < 0 else found
        self._decide(entry, first, end - first)
        return Span(entry, first, task.index, end - first, key, seq)

    def spannable(self, entry: int) -> bool:
        """A worker renders a span's tasks from its own plan: not those that receive
        results (`as`), nor those whose results feed one (the parent keeps them)."""
        return entry not in self._results and not any(i.alias for i in self._items[entry])

    # -- what the engine tells ---------------------------------------------------------

    def ended(self, task: PlannedTask, outcome: Outcome) -> None:
        """A task's last word (ok, failed, skipped, cancelled...): its groups count it."""
        self._ended(task.entry, task.index, outcome.status, outcome.result)

    def _ended(self, entry: int, index: int, status: TaskStatus, result: str | None) -> None:
        offset = index - self._starts[entry]
        if status is TaskStatus.OK and entry in self._results and result is not None:
            self._results[entry][offset] = result
        feeds = self._feeds[entry]
        if not feeds:
            return
        bits = 0 if status is TaskStatus.OK else FAILED_BIT if status in FAILING else OTHER_BIT
        where = digits(self._entries[entry], offset)
        for item in feeds:
            group = item.group_of_needed(where)
            item.ended[group] += 1
            if bits:
                item.flags[group] |= bits
                if group not in item.first_bad:
                    name = self._entries[entry].render_at(offset, index).name
                    item.first_bad[group] = f"{name} ended {status.value}"
            if item.complete(group):
                self._group_done(item, group)

    def span_ended(self, span: Span, done: int, others: set[int]) -> None:
        """The tasks of a span that ended ok in its worker (`others` holds the keys of
        those that did not: they end through `ended` like any attempt)."""
        start = 0
        for stop in [*sorted(k - span.key for k in others if 0 <= k - span.key < done), done]:
            self._ended_ok(span.entry, span.offset + start, span.offset + stop)
            start = stop + 1

    def _ended_ok(self, entry: int, first: int, stop: int) -> None:
        """Tasks `first` to `stop` (offsets) of an entry ended ok, counted a run at a time
        where that is the same as one by one: a fan-in counts them at once, a one-to-one
        over the same axes makes its dependents ready at once."""
        if first >= stop or not self._feeds[entry]:
            return
        if entry in self._results or not all(self._at_once(i) for i in self._feeds[entry]):
            for offset in range(first, stop):
                self._ended(entry, self._starts[entry] + offset, TaskStatus.OK, None)
            return
        for item in self._feeds[entry]:
            if item.groups == 1 and not item.bound:
                item.ended[0] += stop - first
                if item.complete(0):
                    self._group_done(item, 0)
            else:
                item.ended[first:stop] = array("I", [1]) * (stop - first)
                self._state[item.dependent][first:stop] = bytes([READY]) * (stop - first)
                self._more_ready(item.dependent, stop - first)
                self._low[item.dependent] = min(self._low[item.dependent], first)
                self._peeked = None

    def _at_once(self, item: Item) -> bool:
        if item.groups == 1 and not item.bound:
            return True
        dependent = item.dependent
        return (item.aligned and len(self._items[dependent]) == 1 and not self._stopped
                and self._entries[dependent].condition != "failure")

    def take_skipped(self) -> Iterator[tuple[PlannedTask, str]]:
        """Tasks whose `if` is false, with why; taking one may add more (a skip spreads)."""
        while self._skipped:
            yield self._skipped.popleft()

    def kept(self, why: str, shared: bool) -> tuple[bool, bool]:
        """What a stop keeps for the tasks under `if: always` still to come: whether any
        (only `on_failure: stop` keeps them), and whether one needs the executor of calls
        to stay open (a callable, or any task when one executor runs both kinds, `shared`)."""
        if why != "stop":
            return False, False
        left = [entry for entry, state in zip(self._entries, self._state)
                if entry.condition == "always"
                and (state.find(WAITING) >= 0 or state.find(READY) >= 0)]
        return bool(left), any(shared or entry.call is not None for entry in left)

    def cancel(self, keep_always: bool) -> None:
        """A stop: every task not handed out is cancelled, except (`keep_always`) those
        under `if: always`, which run once their needs have ended."""
        self._peeked = None
        self._stopped, self._keep_always = True, keep_always
        for entry in range(len(self._entries)):
            if not (keep_always and self._entries[entry].condition == "always"):
                self._cancel_entry(entry, keep_always)

    def take_cancelled(self) -> int:
        """How many tasks were cancelled since last asked (counted, not journaled)."""
        count, self._cancelled = self._cancelled, 0
        return count

    def stalled(self, busy: bool) -> None:
        """Raises when nothing runs (not `busy`) and nothing is ready, yet tasks wait:
        the run ends, naming them, rather than wait forever."""
        if busy or self.done or self._first_ready() is not None:
            return
        waiting = [self._render(e, o).name for e in range(len(self._entries))
                   for o in self._waiting(e)][:SHOWN]
        raise RunnerError(f"{self._left} task(s) wait on needs that can no longer end "
                          f"(nothing runs and nothing is ready): {', '.join(waiting)}")

    # -- the bookkeeping -----------------------------------------------------------------

    def _group_done(self, item: Item, group: int) -> None:
        entry = item.dependent
        if not item.bound and len(self._items[entry]) == 1 and not self._stopped and \
                self._verdict(self._entries[entry].condition or "success", [(item, group)]) \
                is None:  # a fan-out: every waiting task of the entry is ready at once
            state = self._state[entry]
            self._more_ready(entry, state.count(WAITING))
            self._state[entry] = state.replace(bytes([WAITING]), bytes([READY]))
            self._low[entry], self._peeked = 0, None
            return
        for offset in item.dependents(group):
            self._check(entry, offset)

    def _check(self, entry: int, offset: int) -> None:
        state = self._state[entry]
        if state[offset] != WAITING:
            return
        where = digits(self._entries[entry], offset)
        groups = [(item, item.group_of(where)) for item in self._items[entry]]
        if not all(item.complete(group) for item, group in groups):
            return
        why = self._verdict(self._entries[entry].condition or "success", groups)
        if self._stopped and not (self._keep_always and self._entries[entry].condition
                                  == "always"):
            why = why or "cancelled"
        if why is None:
            state[offset] = READY
            self._more_ready(entry, 1)
            self._low[entry] = min(self._low[entry], offset)
            self._peeked = None
            return
        self._decide(entry, offset, 1)
        if why == "cancelled":
            self._cancelled += 1
            self._ended(entry, self._starts[entry] + offset, TaskStatus.CANCELLED, None)
        else:
            self._skipped.append((self._render(entry, offset), why))

    def _verdict(self, condition: str, groups: list[tuple[Item, int]]) -> str | None:
        """None when the task runs; else why it is skipped."""
        flags = 0
        for item, group in groups:
            flags |= item.flags[group]
        if condition == "always" or (condition == "success" and not flags) or (
                condition == "failure" and flags & FAILED_BIT):
            return None
        if condition == "failure":
            return "if: failure, and none of the tasks it needs failed"
        bad = [item.first_bad[group] for item, group in groups if group in item.first_bad]
        return f"needs {'; '.join(bad)}"

    def _decide(self, entry: int, first: int, size: int) -> None:
        state = self._state[entry]
        self._ready[entry] -= state.count(READY, first, first + size)
        state[first:first + size] = bytes([DECIDED]) * size
        self._left -= size
        if self._low[entry] == first:
            self._low[entry] = first + size
        self._peeked = None

    def _render(self, entry: int, offset: int) -> PlannedTask:
        plan_entry = self._entries[entry]
        extra: dict[str, Any] = {}
        items = [item for item in self._items[entry] if item.alias]
        if items:
            where = digits(plan_entry, offset)
            for item in items:
                assert item.alias is not None
                extra[item.alias] = self._received(item, item.group_of(where))
        return plan_entry.render_at(offset, self._starts[entry] + offset, extra)

    def _received(self, item: Item, group: int) -> Any:
        """The needed tasks' results: one value, or a list in plan order (null for those
        that did not end ok)."""
        results = self._results[item.needed]
        values = [_value(results.get(offset)) for offset in item.members(group)]
        return values[0] if item.single else values

    def _waiting(self, entry: int) -> Iterator[int]:
        state, offset = self._state[entry], self._state[entry].find(WAITING)
        while offset >= 0:
            yield offset
            offset = state.find(WAITING, offset + 1)

    def _cancel_entry(self, entry: int, spread: bool) -> None:
        """Cancel the entry's undecided tasks; with `spread`, their dependents hear of it
        one by one (an `if: always` task among them may then run)."""
        state = self._state[entry]
        for value in (WAITING, READY):
            offset = state.find(value)
            while offset >= 0:
                self._decide(entry, offset, 1)
                self._cancelled += 1
                if spread:
                    self._ended(entry, self._starts[entry] + offset, TaskStatus.CANCELLED, None)
                offset = state.find(value, offset + 1)

    def _settled(self, skip: frozenset[str], recorded: dict[str, str],
                 only: Callable[[PlannedTask], bool] | None) -> None:
        """Tasks recorded ok are not run again: they count as ended ok, with their
        recorded results. Tasks `--only` leaves out are not part of the run: nothing
        selected needs them (a selection holds what it needs), so they end nothing."""
        for entry, plan_entry in enumerate(self._entries):
            for offset in range(plan_entry.count):
                index = self._starts[entry] + offset
                task = plan_entry.render_at(offset, index)
                selected = only is None or only(task)
                if task.id in skip or not selected:
                    if self._state[entry][offset] == READY:
                        self._ready[entry] -= 1
                    self._state[entry][offset] = DECIDED
                    self._left -= 1
                    if selected:
                        self._ended(entry, index, TaskStatus.OK, recorded.get(task.id))


def _value(result: str | None) -> Any:
    return None if result is None else json.loads(result)


def skipped_outcome(key: int, message: str) -> Outcome:
    """A task that never started: no pid, no start; its journal record says so."""
    now = time.time()
    error = ErrorInfo("Skipped", message)
    host = socket.gethostname()
    fragments = made("", now, now, None, None, error, "", "")
    fragments = fragments._replace(
        where=f'"pid":null,"ppid":null,"process_name":"","host":{json.dumps(host)}',
        started="null")
    return Outcome(key, TaskStatus.SKIPPED, now, now, 0, 0, "", host, error=error,
                   journal=fragments)
