"""runner.selection on plans alone (no process): the needs closure per bound value,
the counts against a resume's skip, and a large plan selected without holding its
tasks, names or ids (tracemalloc's peak stays far below what 50,000 names take)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.jobfile.loader import load
from runner.plan import Plan
from runner.selection import Selection, normalised

PIPELINE = """
version: 1
tasks:
  - name: prepare
    command: ["true"]
  - name: "convert-{{ f }}-{{ q }}"
    command: ["true"]
    foreach: {f: [a, b, c], q: [1, 2]}
    needs: [prepare]
  - name: "thumb-{{ f }}-{{ s }}"
    command: ["true"]
    foreach: {f: [a, b, c], s: [1, 2]}
    needs: ["convert-{{f}}-{{  q }}"]
  - name: index
    command: ["true"]
    needs: ["thumb-{{ f }}-{{ s }}"]
"""


def _plan(tmp_path: Path, text: str) -> Plan:
    (tmp_path / "job.yml").write_text(text)
    return Plan(load(tmp_path / "job.yml"))


def test_a_bound_axis_needs_the_same_value_and_a_free_one_every_value(tmp_path: Path) -> None:
    plan = _plan(tmp_path, PIPELINE)
    selection = Selection(plan, ["thumb-c-2"])
    assert [task.name for task in plan if selection(task)] == [
        "prepare", "convert-c-1", "convert-c-2", "thumb-c-2"]
    assert selection.count(frozenset()) == (4, 4)
    assert selection.count(frozenset({"convert-{{ f }}-{{ q }}[f=c,q=1]"})) == (4, 3)


def test_a_fan_in_needs_everything_below_it(tmp_path: Path) -> None:
    plan = _plan(tmp_path, PIPELINE)
    assert Selection(plan, ["index"]).count(frozenset()) == (1 + 6 + 6 + 1,) * 2


def test_names_are_compared_with_the_spaces_in_templates_normalised() -> None:
    assert normalised("convert-{{f}}-{{  q }}") == "convert-{{ f }}-{{ q }}"


def test_nothing_selected_names_the_closest(tmp_path: Path) -> None:
    selection = Selection(_plan(tmp_path, PIPELINE), ["thumb-c-3"])
    with pytest.raises(UsageError, match="did you mean thumb-c-2"):
        selection.require_some(selection.count(frozenset())[0])


@pytest.mark.timeout(120)
def test_a_large_plan_is_selected_in_bounded_memory(tmp_path: Path) -> None:
    plan = _plan(tmp_path, """
version: 1
tasks:
  - name: "item-{{ i }}"
    command: ["true"]
    foreach: {i: {range: [0, 50000]}}
  - name: gather
    command: ["true"]
    needs: ["item-{{ i }}"]
""")
    tracemalloc.start()
    try:
        selection = Selection(plan, ["item-4999?"])
        counts = selection.count(frozenset())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts == (10, 10)
    assert peak < 2_000_000, peak
