"""Proof that a `runner run` did the work it is timed for, read from its journal.

The journal is read line by line (a million-task journal is most of a
gigabyte), and every planned task must have exactly one `task_finished`
record with status ok, an integer pid and whatever else the workload expects
(the right result, exit code 0). Anything less and the run does not count.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _measure import BenchError

Record = dict[str, Any]
Expect = Callable[[Record, int], bool]


def verify_journal(path: Path, count: int, expect: Expect) -> None:
    """Raise unless `path` records `count` distinct tasks finished ok, each meeting `expect`
    (called with the record and the runner's own pid)."""
    if not path.exists():
        raise BenchError(f"no journal at {path}")
    seen = bytearray(count)
    runner_pid = -1
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = _parse(line)
            if record.get("event") == "job_started":
                runner_pid = record.get("pid", -1)
            elif record.get("event") == "task_finished":
                _tally(record, seen, runner_pid, expect)
    missing = count - sum(seen)
    if missing:
        raise BenchError(f"journal {path.name}: {missing:,} of {count:,} tasks have no ok "
                         "task_finished record with a pid")


def _parse(line: str) -> Record:
    """Skip the cost of parsing `task_started` lines, which prove nothing here."""
    if "task_finished" not in line and "job_started" not in line:
        return {}
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BenchError(f"journal line is not JSON: {line[:80]!r}") from exc
    return record if isinstance(record, dict) else {}


def _tally(record: Record, seen: bytearray, runner_pid: int, expect: Expect) -> None:
    if record.get("status") != "ok":
        return
    index, pid = record.get("index"), record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        raise BenchError(f"task {record.get('task')} finished ok without a pid")
    if not isinstance(index, int) or not 0 <= index < len(seen) or seen[index]:
        raise BenchError(f"task {record.get('task')}: index {index} out of plan or repeated")
    if not expect(record, runner_pid):
        raise BenchError(f"task {record.get('task')}: unexpected record {record}")
    seen[index] = 1


def squared_in_worker(record: Record, runner_pid: int) -> bool:
    """A trivial callable ran in a worker (not the runner) and returned index squared."""
    index = record["index"]
    return bool(record.get("result") == index * index and record["pid"] != runner_pid)


def ran_in_worker(record: Record, runner_pid: int) -> bool:
    """The seed's sleeping task ran in a worker process, not in the runner itself."""
    return bool(record["pid"] != runner_pid)


def exited_zero(record: Record, runner_pid: int) -> bool:
    """A command ran as its own process and exited 0."""
    return bool(record.get("exit_code") == 0 and record["pid"] != runner_pid)
