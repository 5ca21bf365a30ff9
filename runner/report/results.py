"""`runner results`: a journal as a table, one row per task, for pandas, DuckDB or a
spreadsheet.

A row is a task's final attempt, the latest across the runs of a resumed journal.
The journal is read twice through runner.journal.reader, never held: the first pass
finds the foreach axes (the CSV header needs them before the first row) and, for the
tasks a later run finished again, which run holds their latest attempt; the second
writes the rows as it meets them. The first pass keeps nothing for a journal of one
run, and for a resumed one about forty bytes per task a later run finished (see
Latest), whatever their lines hold.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import os
import re
import sys
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from runner.errors import NotAJournal, UsageError
from runner.journal import reader
from runner.journal.format import FINISHED_PREFIX
from runner.report.read import STATUSES, no_events

HEAD = ("task", "name")
TAIL = ("status", "result", "exit_code", "attempts", "duration", "pid", "host", "peak_rss",
        "cpu_time")

_FINISHED = FINISHED_PREFIX.encode()
_STRICT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_JOB_STARTED = b'{"event":"job_started"'
_EVENTS = tuple(f'{{"event":"{name}"'.encode()
                for name in ("job_started", "task_started", "task_finished", "job_finished"))


def statuses(given: Iterable[str]) -> frozenset[str]:
    """The statuses `--status` asks for (repeated, or a comma list); none given: all."""
    wanted = {part.strip() for text in given for part in text.split(",") if part.strip()}
    unknown = sorted(wanted.difference(STATUSES))
    if unknown:
        raise UsageError(f"--status {','.join(unknown)}: not a task status; "
                         f"one of {', '.join(STATUSES)}")
    return frozenset(wanted or STATUSES)


class _Pass:
    """What both passes share: counting runs and events, and picking out final attempts."""

    def __init__(self) -> None:
        self.run = -1
        self.events = 0
        self.skipped = 0

    def finished(self, line: bytes) -> bool:
        """Whether the line is a task_finished event; counts what it sees."""
        if not line.startswith(_EVENTS):
            self.skipped += 1
            return False
        self.events += 1
        if line.startswith(_JOB_STARTED):
            self.run += 1
        return line.startswith(_FINISHED)

    def final(self, line: bytes) -> dict[str, Any] | None:
        """The line's record when it ends a task's final attempt; counts what it sees."""
        return self.parsed(line) if self.finished(line) else None

    def parsed(self, line: bytes) -> dict[str, Any] | None:
        """A task_finished line's record when it ends a final attempt."""
        try:
            record = json.loads(line.decode("utf-8", "surrogatepass"))
        except ValueError:
            self.skipped += 1
            return None
        final = isinstance(record, dict) and record.get("final", True) is True
        return record if final and isinstance(record.get("task"), str) else None


_GLANCE = re.compile(rb'\{"event":"task_finished","ts":"[^"\\]*","task":("(?:[^"\\]|\\.)*"),'
                     rb'"name":"(?:[^"\\]|\\.)*","index":\d+,"values":')
_AFTER_VALUES = re.compile(r',"attempt":\d+,"final":(true|false),')
_DECODER = json.JSONDecoder()


def glance(line: bytes) -> tuple[bytes, dict[str, Any], bool] | None:
    """(the task id as JSON text, the values, whether final) of a task_finished line laid
    out as the runner writes it, without parsing the rest of it (its result, its output
    tails); None for a line of any other shape, which is then parsed whole."""
    head = _GLANCE.match(line)
    if head is None or not line.rstrip().endswith(b"}"):
        return None
    try:
        rest = line[head.end():].decode("utf-8", "surrogatepass")
        values, end = _DECODER.raw_decode(rest)
    except ValueError:
        return None
    after = _AFTER_VALUES.match(rest, end)
    if after is None or not isinstance(values, dict):
        return None
    return head.group(1), values, after.group(1) == "true"


RUNS = 1 << 16
"""Runs of one journal told apart when picking each task's latest (more wrap around)."""


class Latest:
    """Task -> the run of its latest final attempt, for the tasks a run after the first
    finished (a task absent here has its latest in the first run). Kept as two sorted
    arrays, twelve bytes a task, looked up by bisection; each task is the hash of its id
    (64 bits: two tasks of one journal share one only with a vanishing chance)."""

    def __init__(self) -> None:
        self._pending: list[int] = []
        self.keys = array("q")
        self.runs = array("i")

    def add(self, key: int, run: int) -> None:
        """Recorded in journal order, so a task's runs come in increasing order."""
        self._pending.append(key * RUNS + run % RUNS)

    def seal(self) -> None:
        """Sort by task then run, and keep each task's last (its latest) run."""
        pending, self._pending = self._pending, []
        pending.sort()
        for i, combined in enumerate(pending):
            key, run = divmod(combined, RUNS)
            if self.keys and self.keys[-1] == key:
                self.runs[-1] = run
            else:
                self.keys.append(key)
                self.runs.append(run)
            pending[i] = 0  # lets the big ints go while the arrays grow

    def run_of(self, key: int) -> int:
        at = bisect.bisect_left(self.keys, key)
        return self.runs[at] if at < len(self.keys) and self.keys[at] == key else 0


class Survey(_Pass):
    """The first pass: the axes in the order first met, and each task's latest run."""

    def __init__(self) -> None:
        super().__init__()
        self.axes: dict[str, None] = {}
        self.latest = Latest()

    def read(self, lines: Iterable[tuple[int, bytes]]) -> None:
        for _, line in lines:
            if not self.finished(line):
                continue
            glanced = glance(line)
            if glanced is None:
                record = self.parsed(line)
                if record is None:
                    continue
                task, values = record["task"], record.get("values")
            elif glanced[2]:
                task, values = glanced[0], glanced[1]
            else:
                continue
            if isinstance(values, dict):
                self.axes.update(dict.fromkeys(values))
            if self.run > 0:
                key = task if isinstance(task, str) else json.loads(task)
                self.latest.add(hash(key), self.run)
        self.latest.seal()

    def columns(self) -> dict[str, str]:
        """Axis -> its column; an axis named like a fixed column becomes `values.<axis>`."""
        fixed = set(HEAD + TAIL)
        return {axis: f"values.{axis}" if axis in fixed else axis for axis in self.axes}


def rows(lines: Iterable[tuple[int, bytes]], survey: Survey,
         wanted: frozenset[str]) -> Iterator[dict[str, Any]]:
    """The second pass: each task's latest final attempt whose status is wanted, as a row."""
    columns, latest, seen = survey.columns(), survey.latest, _Pass()
    for _, line in lines:
        record = seen.final(line)
        if record is None or record.get("status") not in wanted:
            continue
        if latest.run_of(hash(record["task"])) == max(seen.run, 0) % RUNS:
            yield _row(record, columns)


def _row(record: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    values = record.get("values")
    values = values if isinstance(values, dict) else {}
    row = {"task": record.get("task"), "name": record.get("name")}
    for axis, column in columns.items():
        row[column] = values.get(axis)
    row.update(status=record.get("status"), result=record.get("result"),
               exit_code=record.get("exit_code"), attempts=record.get("attempt"),
               duration=record.get("duration"), pid=record.get("pid"), host=record.get("host"),
               peak_rss=record.get("peak_rss"), cpu_time=record.get("cpu_time"))
    return row


def write(rows_: Iterable[dict[str, Any]], header: list[str], kind: str, out: IO[str]) -> None:
    """The rows as `kind` says: CSV with a header (cells that are not text as JSON
    text, the result always), JSON Lines, or one JSON array."""
    if kind == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([_cell(value, key == "result", row["task"])
                          for key, value in row.items()] for row in rows_)
    elif kind == "jsonl":
        out.writelines(_encode(row, row["task"]) + "\n" for row in rows_)
    else:
        out.write("[")
        out.writelines(("\n" if i == 0 else ",\n") + _encode(row, row["task"])
                       for i, row in enumerate(rows_))
        out.write("\n]\n")


def _cell(value: Any, as_json: bool, task: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and not as_json:
        return value
    if type(value) in (int, float) and not as_json:
        return repr(value)
    return _encode(value, task)


def _encode(value: Any, task: object) -> str:
    """JSON text, without NaN or Infinity: JSON has no form for them, and a journal written
    by hand or by an older runner may hold them."""
    try:
        return _STRICT(value)
    except ValueError:
        raise NotAJournal(f"task {task}: its record holds NaN or Infinity, which JSON "
                          "has no form for (an older runner wrote them from a task's data); "
                          "the rows before it were written") from None


def results_command(journal: Path, kind: str, status: Iterable[str]) -> int:
    """`runner results`: the table on stdout, UTF-8 whatever the locale."""
    wanted = statuses(status)
    survey = Survey()
    with reader.reading(journal) as lines:
        survey.read(lines)
    if survey.events == 0:
        raise no_events(journal, survey.skipped, lines.torn_bytes)
    header = [*HEAD, *survey.columns().values(), *TAIL]
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        with reader.reading(journal) as lines:
            write(rows(lines, survey, wanted), header, kind, out)
        out.flush()
    except BrokenPipeError:  # a reader such as `head` stopped early: the rest goes nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        out.detach()
    return 0
