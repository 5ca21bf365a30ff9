"""`needs`, `as` and `if` mistakes: each at its item's line:col, all in one report, and the
`as` variables known to the dependent's templates. Also the one reading of an item the
engine shares (`normalised`, `bound`)."""

from __future__ import annotations

from runner.jobfile.needs import bound, normalised
from tests.unit.conftest import Loader, Problems

HEAD = "version: 1\ntasks:\n"


def test_a_pipeline_with_as_and_if_is_valid(job: Loader) -> None:
    loaded = job(HEAD + """\
  - {name: prepare, call: m:f}
  - name: "conv-{{ f }}"
    command: ["conv", "{{ f }}", "{{ p }}"]
    foreach: {f: [a, b]}
    needs: [{task: prepare, as: p}]
    result: stdout
  - name: "thumb-{{f}}"
    call: m:f
    args: ["{{ c }}"]
    foreach: {f: [a, b]}
    needs: [{task: "conv-{{f}}", as: c}]
  - name: index
    command: "echo {{ thumbs }}"
    needs: [{task: "thumb-{{ f }}", as: thumbs}]
  - {name: cleanup, command: "true", needs: [index], if: always}
""")
    assert loaded.tasks[4].if_ == "always"


def test_every_mistake_is_reported_at_its_item_at_once(problems: Problems) -> None:
    found = problems(HEAD + """\
  - {name: prepare, call: m:f, needs: [prepare]}
  - name: "conv-{{ f }}"
    call: m:f
    foreach: {f: [a, b]}
    needs: [prepar, "thumb-{{f}}"]
  - name: "thumb-{{ f }}"
    call: m:f
    args: ["{{ r }}", "{{ zz }}"]
    foreach: {f: [a, b]}
    needs: ["conv-{{ f }}", {task: prepare, as: f}, {task: prepare, as: index},
            {task: prepare, as: r}, {task: prepare, as: r}]
  - {name: x, call: m:f, if: always}
  - {name: "y-{{ index }}", call: m:f}
  - {name: z, call: m:f, needs: ["y-{{ index }}"]}
""")
    assert found == [
        '3:40: tasks[0].needs[0]: task "prepare" needs itself',
        '7:13: tasks[1].needs[0]: needs "prepar", but no task has that name; '
        'did you mean "prepare"?',
        "10:23: tasks[2].args[1]: unknown template variable {{ zz }}; known here: f, index, "
        "job, r",
        "12:13: tasks[2].needs[0]: needs form a cycle: conv-{{ f }} -> thumb-{{ f }} -> "
        "conv-{{ f }}",
        "12:49: tasks[2].needs[1].as: `as: f` clashes with this task's foreach axis \"f\"",
        '12:73: tasks[2].needs[2].as: `as: index` clashes with the built-in template '
        'variable "index"',
        "13:57: tasks[2].needs[4].as: `as: r` is given twice in this task's needs "
        "(needs[3] has it)",
        "14:30: tasks[3].if: `if` without `needs`: it says when to run after the tasks "
        "this one needs; add `needs` or remove `if`",
        '16:34: tasks[5].needs[0]: {{ index }} in a need is not a foreach axis of '
        '"y-{{ index }}"; its axes: (none)',
    ]


def test_a_longer_cycle_is_named_in_full(problems: Problems) -> None:
    found = problems(HEAD + """\
  - {name: a, call: m:f, needs: [c]}
  - {name: b, call: m:f, needs: [a]}
  - {name: c, call: m:f, needs: [b]}
""")
    assert found == ["4:34: tasks[1].needs[0]: needs form a cycle: a -> c -> b -> a"]


def test_an_unknown_entry_far_from_any_name_lists_the_names(problems: Problems) -> None:
    found = problems(HEAD + "  - {name: a, call: m:f}\n  - {name: b, call: m:f, needs: [qqqq]}\n")
    assert found == ['4:34: tasks[1].needs[0]: needs "qqqq", but no task has that name; '
                     "tasks: a, b"]


def test_items_match_names_whatever_the_spacing_inside_braces() -> None:
    assert normalised("conv-{{f}}-{{   g }}") == "conv-{{ f }}-{{ g }}"
    assert bound("conv-{{f}}-{{ g }}", {"f": 1}) == "conv-1-{{ g }}"


def test_a_need_naming_two_tasks_that_differ_only_in_spacing_is_refused(
        problems: Problems) -> None:
    found = problems(HEAD + """\
  - {name: "a-{{x}}", call: m:f, foreach: {x: [1]}}
  - {name: "a-{{ x }}", call: m:f, foreach: {x: [2]}}
  - {name: b, call: m:f, needs: ["a-{{ x }}"]}
""")
    assert found == ['5:34: tasks[2].needs[0]: needs "a-{{ x }}", which names several tasks '
                     "(their names differ only in spaces inside {{ }})"]


def test_a_chain_longer_than_pythons_recursion_is_checked(problems: Problems) -> None:
    """Entry k needs entry k+1 for 3,000 entries, and the last needs the first: one cycle,
    named, and no RecursionError on the way."""
    count = 3000
    entries = "".join(f"  - {{name: t{k}, call: m:f, needs: [t{(k + 1) % count}]}}\n"
                      for k in range(count))
    found = problems(HEAD + entries)
    assert len(found) == 1 and "needs form a cycle: t0 -> t1 -> t2 ->" in found[0]
    assert found[0].endswith(f"t{count - 1} -> t0")
