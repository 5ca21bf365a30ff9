"""The work `--only`, `--dry-run`, a pipeline's ready tasks and `--resume` do grows with
the entries of a job, not with their square: counted as the lines of the runner's own code that run
(`sys.settrace`), exact and the same on every machine, never timed. A chain four times
longer may cost four times the lines; work per entry that looks at every entry would
cost sixteen."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest

import runner.cli.dryrun
import runner.engine.matching
import runner.engine.needs
import runner.jobfile.needs
import runner.journal.resume
import runner.plan
import runner.selection
from runner.cli.dryrun import print_plan
from runner.engine.needs import source
from runner.events import Outcome, TaskStatus
from runner.jobfile.job import Job
from runner.jobfile.loader import load
from runner.journal.resume import Recorded
from runner.plan import Plan
from runner.selection import Selection

SHORT, LONG = 60, 240
ALLOWED = 5.0
"""The cost ratio of LONG to SHORT entries allowed: 4 is linear, 16 quadratic."""


def _chain(tmp_path: Path, entries: int) -> Job:
    """Entries t0..tN-1, each needing the one before by name."""
    lines = ["version: 1", "tasks:", "  - {name: t0, command: ['true']}"]
    lines += [f"  - {{name: t{i}, command: ['true'], needs: [t{i - 1}]}}"
              for i in range(1, entries)]
    path = tmp_path / f"chain{entries}.yml"
    path.write_text("\n".join(lines) + "\n")
    return load(path)


def _lines_run(action: Callable[[], Any], modules: list[ModuleType]) -> int:
    """How many lines of these modules run while `action` does."""
    files = {module.__file__ for module in modules}
    count = 0

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        count += event == "line"
        return local

    def calls(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename in files else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        action()
    finally:
        sys.settrace(previous)
    return count


def _ratio(cost: Callable[[int], int]) -> float:
    short, long = cost(SHORT), cost(LONG)
    assert short > SHORT  # the counter sees the work
    return long / short


SELECTING = [runner.selection, runner.jobfile.needs, runner.plan, runner.cli.dryrun]


def test_only_selects_the_closure_in_work_linear_in_the_entries(tmp_path: Path) -> None:
    def cost(entries: int) -> int:
        plan = Plan(_chain(tmp_path, entries))
        last = f"t{len(plan.entries) - 1}"

        def select() -> None:
            selection = Selection(plan, [last])
            assert selection.count(frozenset()) == (len(plan.entries),) * 2

        return _lines_run(select, SELECTING)

    assert _ratio(cost) < ALLOWED


@pytest.mark.parametrize("only", [[], ["t*9"]])
def test_a_dry_run_lists_the_needs_in_work_linear_in_the_entries(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], only: list[str]) -> None:
    def cost(entries: int) -> int:
        job = _chain(tmp_path, entries)
        return _lines_run(lambda: print_plan(job, False, only), SELECTING)

    assert _ratio(cost) < ALLOWED
    assert "needs: t8" in capsys.readouterr().out


def test_a_pipeline_hands_out_its_ready_tasks_in_work_linear_in_the_entries(
        tmp_path: Path) -> None:
    def cost(entries: int) -> int:
        plan = Plan(_chain(tmp_path, entries))
        order: list[str] = []

        def drain() -> None:
            ready = source(plan, frozenset())
            assert ready is not None
            while not ready.done:
                task = ready.take()
                assert task is not None
                order.append(task.id)
                ready.ended(task, Outcome(task.index, TaskStatus.OK, 0.0, 0.0, 0, 0, "", "h"))
                ready.stalled(busy=False)

        lines = _lines_run(drain, [runner.engine.needs, runner.engine.matching, runner.plan])
        assert order == [f"t{i}" for i in range(len(plan.entries))]
        return lines

    assert _ratio(cost) < ALLOWED


def test_resume_keeps_the_results_of_entries_fed_to_an_as_in_work_linear_in_them() -> None:
    def cost(entries: int) -> int:
        recorded = Recorded(fed=frozenset(f"t{i}" for i in range(entries)))
        events = [{"event": "task_finished", "task": f"t{i}[x={i}]", "final": True,
                   "status": "ok", "result": i} for i in range(entries)]
        events += [{"event": "task_finished", "task": f"u{i}", "final": True, "status": "ok",
                    "result": i} for i in range(entries)]
        lines = _lines_run(lambda: [recorded.add(event, "h") for event in events],
                           [runner.journal.resume])
        assert recorded.results == {f"t{i}[x={i}]": str(i) for i in range(entries)}
        return lines

    assert _ratio(cost) < ALLOWED


def test_an_entry_whose_tasks_become_ready_one_by_one_waits_once_in_the_heap(
        tmp_path: Path) -> None:
    """b-{i} needs a-{i}; every a runs at once, then they end one by one, and each b is
    handed out as soon as it is ready: b's tasks become ready alone, each after the
    previous one left it with none. The entries waiting with ready tasks stay at most
    two, not one more for every task."""
    path = tmp_path / "pairs.yml"
    path.write_text("version: 1\ntasks:\n"
                    "  - {name: 'a-{{ i }}', command: ['true'], foreach: {i: {range: [0, 200]}}}\n"
                    "  - {name: 'b-{{ i }}', command: ['true'], foreach: {i: {range: [0, 200]}},"
                    " needs: ['a-{{ i }}']}\n")
    plan = Plan(load(path))
    ready = source(plan, frozenset())
    assert ready is not None

    def end(task: Any) -> None:
        ready.ended(task, Outcome(task.index, TaskStatus.OK, 0.0, 0.0, 0, 0, "", "h"))

    running = [ready.take() for _ in range(200)]
    longest, seconds = 0, []
    for first in running:
        end(first)
        second = ready.take()
        assert second is not None and second.name == first.name.replace("a-", "b-")
        seconds.append(second)
        end(second)
        longest = max(longest, len(ready._with_ready))
    assert ready.done and len(seconds) == 200
    assert longest <= len(plan.entries)
