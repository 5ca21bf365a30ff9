"""Reading a journal back for `runner report`: a stream of lines folded into a Digest,
which `digest` summarises for the text and HTML reports.

A million-task journal is bigger than a report should hold, so it is read as a
stream and only aggregates are kept: counts, the N slowest attempts, the first
failures, per-worker totals, and the first `BAR_CAP` attempts for the
timeline. A journal that holds several runs (a resumed run, or runs appended
to one `--journal`) is read a second time for each task's latest status, so
that a task is counted once: only then does memory grow with the number of
tasks. A torn last line is ignored, as `--resume` ignores it, and reported.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol

from runner.errors import NotAJournal
from runner.events import TaskStatus, shown_name
from runner.journal import reader
from runner.report.entries import Entries, entry_of

STATUSES = tuple(status.value for status in TaskStatus)
_NOT_FAILURES = (TaskStatus.OK.value, TaskStatus.CANCELLED.value, TaskStatus.SKIPPED.value)
SLOWEST = 10
FAILURES_KEPT = 50
BAR_CAP = 20_000
WORKER_CAP = 10_000
MESSAGE_CHARS = 300
_RUN_FIELDS = ("run", "job", "executor", "mode", "workers", "tasks", "host", "pid")


class Attempt(NamedTuple):
    """What the report keeps of one attempt: enough for a table row or a timeline bar."""

    run: int
    task: str
    attempt: int
    status: str
    started: float
    finished: float
    pid: int
    host: str
    process_name: str
    error_type: str = ""
    message: str = ""
    entry: str = ""
    """The job file's entry the task came from (see `entries`)."""
    peak_rss: int = 0
    cpu_time: float = 0.0

    @property
    def duration(self) -> float:
        return max(self.finished - self.started, 0.0)

    @property
    def ran(self) -> bool:
        """Synthetic records (cancelled before starting, lost with a pool) carry pid 0."""
        return self.pid > 0

    def as_dict(self) -> dict[str, Any]:
        return {**self._asdict(), "run": self.run + 1, "duration": round(self.duration, 6)}


@dataclass
class Worker:
    """One process, (host, pid), within one run."""

    process_name: str
    attempts: int = 0
    busy: float = 0.0
    cpu_time: float = 0.0
    peak_rss: int = 0
    """The largest of its attempts' peaks."""


@dataclass
class Run:
    """One job_started...job_finished stretch; a resumed run appends another."""

    index: int
    meta: dict[str, Any]
    origin: float | None = None
    first: float = math.inf
    last: float = -math.inf
    end: dict[str, Any] | None = None
    counts: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    retries: int = 0
    task_time: float = 0.0
    workers: dict[tuple[str, int], Worker] = field(default_factory=dict)
    others: Worker = field(default_factory=lambda: Worker(f"(beyond {WORKER_CAP} workers)"))

    def add(self, attempt: Attempt, final: bool) -> None:
        self.attempts += 1
        self.task_time += attempt.duration
        if final:
            self.counts[attempt.status] += 1
        else:
            self.retries += 1
        if not attempt.ran:
            return
        self.first = min(self.first, attempt.started)
        self.last = max(self.last, attempt.finished)
        key = (attempt.host, attempt.pid)
        worker = self.workers.get(key)
        if worker is None and len(self.workers) >= WORKER_CAP:
            worker = self.others
        elif worker is None:
            worker = self.workers[key] = Worker(attempt.process_name)
        worker.attempts += 1
        worker.busy += attempt.duration
        worker.cpu_time += attempt.cpu_time
        worker.peak_rss = max(worker.peak_rss, attempt.peak_rss)

    @property
    def start(self) -> float:
        """Time zero of the run's axis: when the runner started it, else its first attempt."""
        if self.origin is not None:
            return self.origin
        return self.first if math.isfinite(self.first) else 0.0

    def wall(self) -> float:
        duration = self.end.get("duration") if self.end else None
        if isinstance(duration, (int, float)) and 0 <= duration < math.inf:
            return float(duration)
        return max(self.last - self.start, 0.0) if math.isfinite(self.last) else 0.0


class _Bad(ValueError):
    """A line that is JSON but not a journal event this report understands."""


class Digest:
    """The aggregates of a journal, fed one record at a time; bounded whatever its length."""

    def __init__(self, bar_cap: int = BAR_CAP) -> None:
        self.bar_cap = bar_cap
        self.runs: list[Run] = []
        self.bars: list[Attempt] = []
        self.bars_dropped = 0
        self.failures: list[Attempt] = []
        self.failures_total = 0
        self._slowest: list[tuple[float, int, Attempt]] = []
        self._largest: list[tuple[int, int, Attempt]] = []
        self._seq = itertools.count()
        self.events = 0
        self.skipped = 0
        self.first_skipped = 0
        self.torn_bytes = 0
        self.latest: Counter[str] | None = None
        """Tasks by the status of their latest final attempt, when there are several runs."""
        self.entries = Entries()

    def feed(self, line: bytes, number: int) -> None:
        try:
            record = json.loads(line)
            event = record.get("event") if isinstance(record, dict) else None
            handler = self._handlers.get(event) if isinstance(event, str) else None
            if handler is None:
                raise _Bad("not a journal event")
            handler(self, record)
        except ValueError:
            self.skip(number)
            return
        self.events += 1

    def skip(self, number: int) -> None:
        self.skipped += 1
        self.first_skipped = self.first_skipped or number

    def slowest(self) -> list[Attempt]:
        return [entry[2] for entry in sorted(self._slowest, key=lambda e: (-e[0], e[1]))]

    def largest(self) -> list[Attempt]:
        """The attempts that held the most memory, largest first (those that held any)."""
        return [entry[2] for entry in sorted(self._largest, key=lambda e: (-e[0], e[1]))]

    def bars_by_run(self) -> dict[int, list[Attempt]]:
        by_run: dict[int, list[Attempt]] = {run.index: [] for run in self.runs}
        for bar in self.bars:
            by_run[bar.run].append(bar)
        return by_run

    def _job_started(self, record: dict[str, Any]) -> None:
        meta = {key: record.get(key) for key in _RUN_FIELDS}
        self.runs.append(Run(len(self.runs), meta, origin=_time(record, "ts")))

    def _task_started(self, record: dict[str, Any]) -> None:
        """Every attempt that started also finishes in the journal, unless the runner died."""

    def _task_finished(self, record: dict[str, Any]) -> None:
        run = self._current()
        attempt = _attempt(record, run.index)
        final = record.get("final", True)
        if not isinstance(final, bool):
            raise _Bad("final")
        run.add(attempt, final)
        self.entries.add(attempt.entry, attempt.status, attempt.duration, final)
        self._keep(attempt, final)

    def _job_finished(self, record: dict[str, Any]) -> None:
        self._current().end = record

    _handlers: ClassVar[dict[str, Callable[[Digest, dict[str, Any]], None]]] = {
        "job_started": _job_started, "task_started": _task_started,
        "task_finished": _task_finished, "job_finished": _job_finished}

    def _current(self) -> Run:
        if not self.runs:  # a journal whose job_started was lost: one run without metadata
            self.runs.append(Run(0, dict.fromkeys(_RUN_FIELDS)))
        return self.runs[-1]

    def _keep(self, attempt: Attempt, final: bool) -> None:
        if final and attempt.status not in _NOT_FAILURES:
            self.failures_total += 1
            if len(self.failures) < FAILURES_KEPT:
                self.failures.append(attempt)
        if not attempt.ran:
            return
        if len(self.bars) < self.bar_cap:
            self.bars.append(attempt)
        else:
            self.bars_dropped += 1
        _top(self._slowest, (attempt.duration, next(self._seq), attempt))
        if attempt.peak_rss:
            _top(self._largest, (attempt.peak_rss, next(self._seq), attempt))


def _top(heap: list[Any], entry: tuple[Any, int, Attempt]) -> None:
    """Keep the `SLOWEST` greatest entries."""
    if len(heap) < SLOWEST:
        heapq.heappush(heap, entry)
    else:
        heapq.heappushpop(heap, entry)


def _time(record: dict[str, Any], key: str) -> float:
    """Epoch seconds; `Z` and naive times are read as UTC, as `jq` or a hand edit may leave them."""
    value = record.get(key)
    if not isinstance(value, str):
        raise _Bad(key)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _typed(record: dict[str, Any], key: str, kind: type[Any] | tuple[type[Any], ...],
           default: Any = None) -> Any:
    value = record.get(key, default)
    if not isinstance(value, kind):
        raise _Bad(key)
    return value


def _attempt(record: dict[str, Any], run: int) -> Attempt:
    status = _typed(record, "status", str)
    if status not in STATUSES:
        raise _Bad("status")
    error = record.get("error")
    error_type, message = "", ""
    if isinstance(error, dict):
        error_type, message = str(error.get("type", "")), str(error.get("message", ""))
    elif status != TaskStatus.OK.value and "exit_code" in record:
        error_type, message = "ExitCode", f"exit code {record['exit_code']}"
    task, name = record.get("task"), record.get("name")
    name = shown_name(task, name) if isinstance(task, str) and isinstance(name, str) \
        else name or task
    if not isinstance(name, str):
        raise _Bad("name")
    task = record.get("task")
    entry = entry_of(task, record.get("values")) if isinstance(task, str) else name
    finished = _time(record, "finished")
    never = status == TaskStatus.SKIPPED.value  # never started: no start time, no pid
    return Attempt(run, name, _typed(record, "attempt", int),
                   status, finished if never else _time(record, "started"), finished,
                   0 if never else _typed(record, "pid", int), _typed(record, "host", str, ""),
                   _typed(record, "process_name", str, ""), error_type, message[:MESSAGE_CHARS],
                   entry, _typed(record, "peak_rss", int, 0),
                   float(_typed(record, "cpu_time", (int, float), 0.0)))


def read_journal(path: Path, *, bar_cap: int = BAR_CAP) -> Digest:
    """Stream the journal into a Digest; a file with no event in it is not a journal.
    When it holds several runs, a second pass finds each task's latest status."""
    digest = Digest(bar_cap)
    digest.torn_bytes = _read(path, digest)
    if digest.events == 0:
        raise no_events(path, digest.skipped, digest.torn_bytes)
    if len(digest.runs) > 1:
        latest = Latest()
        _read(path, latest)
        digest.latest = Counter(latest.status.values())
    return digest


def no_events(path: Path, skipped: int, torn_bytes: int) -> NotAJournal:
    """What a file read to its end without one journal event in it is told."""
    torn = f" but for a torn line of {torn_bytes} bytes" if torn_bytes else ""
    why = (f"none of its {skipped} line(s) is a journal event; is it a runner journal?"
           if skipped else f"it is empty{torn}")
    return NotAJournal(f"the journal {path} has no events: {why}")


class _Feeder(Protocol):
    def feed(self, line: bytes, number: int) -> None: ...

    def skip(self, number: int) -> None: ...


class Latest:
    """Task id -> the status of its latest final attempt, across every run of a journal."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}

    def feed(self, line: bytes, number: int) -> None:
        """A line the Digest skips is skipped here too: both read attempts with `_attempt`."""
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or record.get("event") != "task_finished" \
                    or record.get("final", True) is not True:
                return
            attempt = _attempt(record, 0)
        except ValueError:
            return
        task = record.get("task")
        self.status[task if isinstance(task, str) else attempt.task] = _STATUS[attempt.status]

    def skip(self, number: int) -> None:
        """An oversized line: the first pass counted it."""


_STATUS = {status: status for status in STATUSES}
"""One string object per status, shared by every task's entry."""


def _read(path: Path, feeder: _Feeder) -> int:
    """Feed the journal's whole lines to `feeder`; return the size of a torn last line."""
    with reader.reading(path) as lines:
        for number, line in lines:
            if line is reader.OVERSIZED:
                feeder.skip(number)
            else:
                feeder.feed(line, number)
    return lines.torn_bytes
