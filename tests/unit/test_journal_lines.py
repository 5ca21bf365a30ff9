"""The task lines `runner.journal.format` writes: what it keeps from one line to the next
(a task's naming fields, an outcome's fragments) never leaks into another task's line or
into a changed outcome's."""

from __future__ import annotations

import json
from typing import Any

from runner.events import Outcome, TaskFinished, TaskStarted, TaskStatus, amend
from runner.journal import format

SHARED_VALUES: dict[str, Any] = {}
"""One dict for every task of an entry without foreach, as the plan hands it out."""


def _outcome(key: int, pid: int, **changes: Any) -> Outcome:
    base = Outcome(key, TaskStatus.OK, 1_800_000_000.25, 1_800_000_001.5, pid, 10, "true",
                   "host-ü", exit_code=0, cpu_time=0.001)
    return base._replace(**changes)


def _started(task: str, index: int, values: dict[str, Any], outcome: Outcome) -> TaskStarted:
    return TaskStarted(outcome.started, task, task.split("[")[0], index, values, 1,
                       outcome.pid, outcome.ppid, outcome.process_name, outcome.host,
                       "hash", outcome)


def _finished(task: str, index: int, values: dict[str, Any], outcome: Outcome
              ) -> TaskFinished:
    return TaskFinished(outcome.finished, task, task.split("[")[0], index, values,
                               index, 1, True, outcome, "hash")


def test_tasks_sharing_one_values_dict_are_each_named_by_their_own_line() -> None:
    lines = []
    for index in range(3):
        outcome = _outcome(index + 1, 100 + index)
        lines.append(json.loads(format.started_line(_started(f"t{index}", index,
                                                             SHARED_VALUES, outcome))))
        lines.append(json.loads(format.finished_line(_finished(f"t{index}", index,
                                                               SHARED_VALUES, outcome))))
    assert [(line["task"], line["index"], line["pid"]) for line in lines] == [
        ("t0", 0, 100), ("t0", 0, 100), ("t1", 1, 101), ("t1", 1, 101),
        ("t2", 2, 102), ("t2", 2, 102)]
    assert all(line["values"] == {} and line["host"] == "host-ü" for line in lines)


def test_an_outcome_changed_after_its_start_line_is_written_as_changed() -> None:
    values = {"i": 7}
    first = _outcome(1, 200)
    started = json.loads(format.started_line(_started("t[i=7]", 7, values, first)))
    changed = amend(first, status=TaskStatus.FAILED, exit_code=3, stdout="late\n",
                    peak_rss=4096)
    finished = json.loads(format.finished_line(_finished("t[i=7]", 7, values, changed)))
    assert (started["pid"], started["values"]) == (200, {"i": 7})
    assert (finished["status"], finished["exit_code"], finished["stdout"],
            finished["peak_rss"]) == ("failed", 3, "late\n", 4096)
    again = json.loads(format.finished_line(_finished("t[i=7]", 7, values, first)))
    assert (again["status"], again["exit_code"], "stdout" in again) == ("ok", 0, False)


def test_a_line_matches_the_json_encoder_for_names_that_need_escaping() -> None:
    outcome = _outcome(1, 300, process_name='a "quoted"\tname')
    line = format.finished_line(_finished('t[s="x\\y"]', 0, {"s": 'x\\y'}, outcome))
    record = json.loads(line)
    assert (record["task"], record["process_name"], record["values"]) == (
        't[s="x\\y"]', 'a "quoted"\tname', {"s": "x\\y"})
