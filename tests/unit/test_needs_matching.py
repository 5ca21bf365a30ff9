"""Which instances a dependent needs, as offsets: binding by text, one-to-group, fan-in,
and plan order among what is ready (the engine's ready source, without processes)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.engine.matching import items_of
from runner.engine.needs import Ready
from runner.errors import RunnerError, UsageError
from runner.events import Outcome, TaskStatus
from runner.jobfile.loader import load
from runner.plan import Plan


@pytest.fixture
def plan(tmp_path: Path) -> Callable[[str], Plan]:
    def plan(tasks: str) -> Plan:
        job = tmp_path / "job.yml"
        job.write_text("version: 1\ntasks:\n" + tasks)
        return Plan(load(job))

    return plan


def _ok(key: int = 0) -> Outcome:
    return Outcome(key, TaskStatus.OK, 0.0, 0.0, 1, 1, "", "", result="7")


def test_values_bind_by_their_text_whatever_their_order(plan: Callable[[str], Plan]) -> None:
    entries = plan("""\
  - {name: "a-{{ x }}-{{ y }}", call: m:f, foreach: {x: ["2", "1"], y: [p, q, r]}}
  - {name: "b-{{ x }}", call: m:f, foreach: {x: [1, 2]}, needs: ["a-{{x}}-{{ y }}"]}
""").entries
    item = items_of(entries, [entry.needs for entry in entries])[1][0]
    assert not item.single and item.size == 3 and item.groups == 2
    assert item.group_of([0]) == 1  # b's x=1 is a's second x
    assert list(item.members(1)) == [3, 4, 5]  # a-1-p, a-1-q, a-1-r in plan order
    assert list(item.dependents(0)) == [1]  # a's x="2" is needed by b's x=2


def test_a_missing_value_is_named(plan: Callable[[str], Plan]) -> None:
    with pytest.raises(UsageError, match=re.escape('with x=3 needs "a-{{ x }}", but no task')):
        Ready(plan("""\
  - {name: "a-{{ x }}", call: m:f, foreach: {x: [1, 2]}}
  - {name: "b-{{ x }}", call: m:f, foreach: {x: [1, 3]}, needs: ["a-{{ x }}"]}
"""), frozenset(), {})


def test_ready_tasks_come_in_plan_order_as_their_needs_end(plan: Callable[[str], Plan]) -> None:
    ready = Ready(plan("""\
  - {name: "a-{{ x }}", call: m:f, foreach: {x: [1, 2, 3]}}
  - {name: "b-{{ x }}", call: m:f, args: ["{{ r }}"], foreach: {x: [1, 2, 3]},
     needs: [{task: "a-{{ x }}", as: r}]}
  - {name: all, call: m:f, args: ["{{ bs }}"], needs: [{task: "b-{{ x }}", as: bs}]}
"""), frozenset(), {})
    a = [ready.take() for _ in range(3)]
    assert [t.name for t in a if t] == ["a-1", "a-2", "a-3"] and ready.peek() is None
    for task in reversed(a):
        assert task is not None
        ready.ended(task, _ok())
    b = [ready.take() for _ in range(3)]
    assert [(t.name, t.args) for t in b if t] == [("b-1", [7]), ("b-2", [7]), ("b-3", [7])]
    assert ready.peek() is None and not ready.done
    for task in b[:2]:
        assert task is not None
        ready.ended(task, _ok())
    assert ready.peek() is None, "the fan-in waits for every b"
    assert b[2] is not None
    ready.ended(b[2], Outcome(0, TaskStatus.FAILED, 0.0, 0.0, 1, 1, "", ""))
    skipped = list(ready.take_skipped())
    assert [(t.name, why) for t, why in skipped] == [("all", "needs b-3 ended failed")]
    assert ready.done


def test_waiting_with_nothing_running_and_nothing_ready_is_an_error_naming_them(
        plan: Callable[[str], Plan]) -> None:
    """The engine asks when nothing is in flight: were an end ever lost, tasks waiting on
    it would wait forever; the run ends instead (exit 3), naming them."""
    ready = Ready(plan("""\
  - {name: a, call: m:f}
  - {name: "b-{{ x }}", call: m:f, foreach: {x: [1, 2]}, needs: [a]}
"""), frozenset(), {})
    assert ready.take() is not None
    ready.stalled(busy=True)  # a runs: nothing to say
    with pytest.raises(RunnerError, match=re.escape("2 task(s) wait on needs that can no "
                                                    "longer end")) as caught:
        ready.stalled(busy=False)
    assert caught.value.exit_code == 3 and str(caught.value).endswith("b-1, b-2")
