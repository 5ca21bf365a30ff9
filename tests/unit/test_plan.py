"""The plan: foreach order, defaults, templates, cwd, ids, spec hashes and laziness."""

from __future__ import annotations

import itertools
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.jobfile.job import Job
from runner.jobfile.loader import load
from runner.plan import Plan, PlannedTask

HEAD = "version: 1\nname: pj\n"


def planned(job: Callable[..., Job], text: str) -> list[PlannedTask]:
    return list(Plan(job(text)))


def test_cartesian_product_first_axis_outermost(job: Callable[..., Job]) -> None:
    tasks = planned(job, HEAD + "tasks:\n"
                    "  - name: 't{{ a }}{{ b }}'\n    call: m:f\n"
                    "    foreach: {a: [1, 2], b: [x, z, w]}\n"
                    "  - {name: last, command: [ls]}\n")
    assert [t.name for t in tasks] == ["t1x", "t1z", "t1w", "t2x", "t2z", "t2w", "last"]
    assert [t.index for t in tasks] == list(range(7))
    assert [t.entry for t in tasks] == [0] * 6 + [1]
    assert tasks[4].id == "t{{ a }}{{ b }}[a=2,b=z]"
    assert tasks[6].id == "last"


def test_len_counts_every_expansion(job: Callable[..., Job]) -> None:
    plan = Plan(job(HEAD + "tasks:\n  - name: a\n    call: m:f\n"
                    "    foreach: {i: {range: [0, 10, 3]}, j: [1, 2]}\n"
                    "  - {name: b, call: m:f}\n"))
    assert len(plan) == 9 == len(list(plan))
    assert list(plan) == list(plan)  # iterable again, same tasks


def test_defaults_are_merged_and_the_task_wins(job: Callable[..., Job]) -> None:
    first, second = planned(job, HEAD + (
        "defaults: {timeout: 1m, retries: 2, retry_delay: 3s, env: {A: a, B: b}}\n"
        "tasks:\n"
        "  - {name: own, call: m:f, timeout: 5s, retries: 0, retry_delay: 1, env: {B: B, C: c}}\n"
        "  - {name: inherits, call: m:f}\n"))
    assert (first.timeout, first.retries, first.retry_delay) == (5.0, 0, 1.0)
    assert first.env == {"A": "a", "B": "B", "C": "c"}
    assert (second.timeout, second.retries, second.retry_delay) == (60.0, 2, 3.0)
    assert second.env == {"A": "a", "B": "b"}


def test_without_defaults(job: Callable[..., Job]) -> None:
    task = planned(job, HEAD + "tasks:\n  - {name: a, command: ls}\n")[0]
    assert (task.timeout, task.retries, task.retry_delay, task.env, task.cwd) == (
        None, 0, 1.0, {}, None)
    assert (task.call, task.command, task.args, task.kwargs) == (None, "ls", [], {})


def test_templates_render_per_expansion(job: Callable[..., Job]) -> None:
    tasks = planned(job, HEAD + "tasks:\n"
                    "  - name: 'sq{{ n }}'\n    call: m:f\n"
                    "    args: ['{{ n }}', 'n={{ n }}', '{{ index }}', '{{ job }}']\n"
                    "    kwargs: {n: '{{ n }}', nested: ['{{ n }}']}\n"
                    "    foreach: {n: [1, '2']}\n")
    assert [t.args for t in tasks] == [[1, "n=1", 0, "pj"], ["2", "n=2", 1, "pj"]]
    assert tasks[0].kwargs == {"n": 1, "nested": [1]}
    assert [t.name for t in tasks] == ["sq1", "sq2"]


def test_commands_render_as_text(job: Callable[..., Job]) -> None:
    argv, shell = planned(job, HEAD + "tasks:\n"
                          "  - name: argv\n    command: [echo, '{{ i }}', 'x{{ v }}']\n"
                          "    env: {N: '{{ i }}'}\n    foreach: {i: [1], v: [null]}\n"
                          "  - name: shell\n    command: 'echo {{ s }} {{ index }}'\n"
                          "    foreach: {s: [\"it's\"]}\n")
    assert argv.command == ["echo", "1", "xnull"]
    assert argv.env == {"N": "1"}
    assert shell.command == "echo 'it'\"'\"'s' 1"


def test_a_name_that_is_one_template_is_still_text(job: Callable[..., Job]) -> None:
    names = [t.name for t in planned(job, HEAD + "tasks:\n  - name: '{{ i }}'\n"
                                     "    call: m:f\n    foreach: {i: [1, [2]]}\n")]
    assert names == ["1", "[2]"]


@pytest.mark.parametrize(("cwd", "expected"), [
    ("work", "{folder}/work"), (".", "{folder}"), ("../up", "{folder}/../up"),
    ("/abs/dir", "/abs/dir"), ("'{{ d }}'", "/from/axis"),
    ("'sub{{ i }}'", "{folder}/sub1"),
])
def test_cwd_is_resolved_against_the_job_file_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cwd: str, expected: str) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "j.yml").write_text(
        HEAD + f"tasks:\n  - name: a\n    command: ls\n    cwd: {cwd}\n"
        "    foreach: {d: [/from/axis], i: [1]}\n")
    monkeypatch.chdir(tmp_path)
    task = next(iter(Plan(load("jobs/j.yml", environ={}))))
    assert task.cwd == expected.format(folder=tmp_path / "jobs")


def test_cwd_from_defaults(job: Callable[..., Job], tmp_path: Path) -> None:
    task = planned(job, HEAD + "defaults: {cwd: w}\ntasks:\n  - {name: a, call: m:f}\n")[0]
    assert task.cwd == str(tmp_path / "w")


JOB = HEAD + ("defaults: {env: {A: a}}\ntasks:\n"
              "  - name: a\n    call: m:f\n    args: ['{{ i }}']\n    foreach: {i: [1, 2]}\n"
              "  - {name: b, command: 'echo hi'}\n")


def hashes(write: Callable[..., Path], text: str) -> dict[str, str]:
    return {t.id: t.spec_hash for t in Plan(load(write(text), environ={}))}


def test_ids_and_hashes_are_stable_across_loads(write: Callable[..., Path]) -> None:
    first, second = hashes(write, JOB), hashes(write, JOB)
    assert first == second
    assert list(first) == ["a[i=1]", "a[i=2]", "b"]


@pytest.mark.parametrize(("old", "new", "changed"), [
    ("args: ['{{ i }}']", "args: ['{{ i }}', 0]", {"a[i=1]", "a[i=2]"}),
    ("echo hi", "echo bye", {"b"}),
    ("env: {A: a}", "env: {A: b}", {"a[i=1]", "a[i=2]", "b"}),
    ("name: pj", "name: other", {"a[i=1]", "a[i=2]", "b"}),
    ("call: m:f", "call: m:g", {"a[i=1]", "a[i=2]"}),
    ("'echo hi'}", "'echo hi', timeout: 5s}", {"b"}),
    ("'echo hi'}", "'echo hi', retries: 1}", {"b"}),
])
def test_a_change_changes_the_hash_of_what_it_touches(
        write: Callable[..., Path], old: str, new: str, changed: set[str]) -> None:
    before, after = hashes(write, JOB), hashes(write, JOB.replace(old, new))
    assert old in JOB and set(before) == set(after)
    assert {k for k in before if before[k] != after[k]} == changed


def test_adding_an_axis_value_leaves_other_tasks_hashes_alone(
        write: Callable[..., Path]) -> None:
    before = hashes(write, JOB)
    after = hashes(write, JOB.replace("[1, 2]", "[1, 2, 3]"))
    assert set(after) == set(before) | {"a[i=3]"}
    assert all(after[key] == value for key, value in before.items())


def test_a_task_using_its_index_gets_its_own_hash(write: Callable[..., Path]) -> None:
    text = JOB.replace("args: ['{{ i }}']", "args: ['{{ index }}']")
    found = hashes(write, text)
    assert len(set(found.values())) == 3


def big(axes: int) -> str:
    foreach = ", ".join(f"x{n}: {{range: [0, 1000000000]}}" for n in range(axes))
    return HEAD + (f"tasks:\n  - name: big\n    command: [echo, '{{{{ x0 }}}}']\n"
                   f"    foreach: {{{foreach}}}\n  - {{name: after, call: m:f}}\n")


@pytest.mark.parametrize(("axes", "count", "ids"), [
    (1, 10**9 + 1, ["big[x0=0]", "big[x0=1]", "big[x0=2]"]),
    (2, 10**18 + 1, ["big[x0=0,x1=0]", "big[x0=0,x1=1]", "big[x0=0,x1=2]"]),
])
def test_a_huge_foreach_is_lazy(job: Callable[..., Job], axes: int, count: int,
                                ids: list[str]) -> None:
    loaded = job(big(axes))
    tracemalloc.start()
    try:
        plan = Plan(loaded)
        size = len(plan)
        first = list(itertools.islice(plan, 3))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size == count
    assert [t.id for t in first] == ids
    assert first[1].command == ["echo", "0" if axes == 2 else "1"]
    assert peak < 256 * 1024


def test_the_plan_holds_no_reference_to_the_environment(job: Callable[..., Job]) -> None:
    task = planned(job, HEAD + "tasks:\n  - {name: a, command: ls}\n")[0]
    assert "PATH" not in task.env and os.environ.get("PATH")


def test_a_task_rendered_by_its_place_is_the_task_the_plan_lists(
        job: Callable[..., Job]) -> None:
    """Spans render their tasks from an entry and an offset: the same task, field for
    field, as walking the plan gives, with no axis, one, or several."""
    plan = Plan(job(HEAD + "tasks:\n"
                    "  - {name: none, call: m:f, args: ['{{ index }}']}\n"
                    "  - name: one\n    call: m:f\n    args: ['{{ i }}']\n"
                    "    foreach: {i: {range: [3, 9, 2]}}\n"
                    "  - name: 'two-{{ a }}'\n    command: [echo, '{{ b }}']\n"
                    "    foreach: {a: [x, y], b: [1, 2, 3]}\n"
                    "  - {name: three, call: m:f, foreach: {a: [1, 2], b: [3], c: [4, 5, 6]}}\n"))
    walked = list(plan)
    by_place = [entry.render_at(offset, first + offset)
                for first, entry in zip(itertools.accumulate(
                    [0] + [e.count for e in plan.entries]), plan.entries)
                for offset in range(entry.count)]
    assert by_place == walked
    assert [len(entry.axes) for entry in plan.entries] == [0, 1, 2, 3]
