"""Tasks: the call/command union, foreach axes, template names, unique names, `--set`.

Error paths are spec paths (`tasks[1].timeout`): the union's tag labels that
pydantic puts in its locations must never leak into them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runner.jobfile.diagnose import Positions
from runner.jobfile.job import CallTask, Job
from runner.jobfile.loader import apply_overrides
from runner.jobfile.values import InputAxis

HEAD = "version: 1\ntasks:\n"
KIND = ("a task needs exactly one of `call` (a Python callable) or `command` (a program)")
CALL = 'expected "module:function" (e.g. "tasks:square"), got'


def no_tag_labels(found: list[str]) -> list[str]:
    assert not any("<" in line.split(": ")[1] for line in found), found
    return found


@pytest.mark.parametrize(("tasks", "expected"), [
    ("  - name: a\n", [f"3:5: tasks[0]: {KIND}"]),
    ("  - name: a\n    call: m:f\n    command: ls\n", [f"3:5: tasks[0]: {KIND}"]),
    ("  - 5\n", [f"3:5: tasks[0]: {KIND}"]),
    ("  - call: m:f\n", ['3:5: tasks[0]: required field "name" is missing']),
    ("  - {name: '', command: ls}\n", ["3:12: tasks[0].name: must not be empty"]),
    ("  - name: a\n    call: m:f\n    tmeout: 1\n",
     ['5:5: tasks[0].tmeout: unknown key "tmeout"; did you mean "timeout"?']),
    ("  - name: a\n    command: ls\n    tmeout: 1\n",
     ['5:5: tasks[0].tmeout: unknown key "tmeout"; did you mean "timeout"?']),
    ("  - name: a\n    command: ls\n  - name: b\n    call: m:f\n    retries: x\n",
     ['7:14: tasks[1].retries: expected an integer, got "x" (a string)']),
    ("  - {name: a, command: ''}\n", ["3:24: tasks[0].command: must not be empty"]),
    ("  - {name: a, command: []}\n", ["3:24: tasks[0].command: needs at least 1 item(s)"]),
    ("  - {name: a, command: [ls, 1]}\n",
     ['3:29: tasks[0].command[1]: expected a string, got 1; quote it if you mean the text: '
      '"1"']),
    ("  - {name: a, command: 5}\n", ["3:24: tasks[0].command: expected a string (run under "
                                     "/bin/sh -c) or a list of strings (run without a shell)"]),
    ("  - {name: a, call: m:f, kwargs: {1x: 2}}\n",
     ['3:35: tasks[0].kwargs.1x: expected a name of letters, digits and _ not starting with '
      'a digit, got "1x" (a string)']),
    ("  - {name: a, call: m:f, args: {x: 1}}\n",
     ["3:32: tasks[0].args: expected a list, got a mapping"]),
])
def test_the_task_union(problems: Callable[..., list[str]], tasks: str,
                        expected: list[str]) -> None:
    assert no_tag_labels(problems(HEAD + tasks)) == expected


@pytest.mark.parametrize("target", ["mf", "m:", ":f", "m:f:g", "1m:f", "m:1f", "m f:g",
                                    "m:f()", "tasks/x:f"])
def test_a_bad_call_target(problems: Callable[..., list[str]], target: str) -> None:
    assert problems(HEAD + f"  - name: a\n    call: '{target}'\n") == [
        f'4:11: tasks[0].call: {CALL} "{target}" (a string)']


@pytest.mark.parametrize("target", ["m:f", "pkg.mod:Class.method", "_m:_f", "os.path:join"])
def test_good_call_targets(job: Callable[..., Job], target: str) -> None:
    task = job(HEAD + f"  - name: a\n    call: {target}\n").tasks[0]
    assert isinstance(task, CallTask) and task.call == target


def test_a_call_that_is_not_text(problems: Callable[..., list[str]]) -> None:
    assert problems(HEAD + "  - name: a\n    call: 5\n") == [
        '4:11: tasks[0].call: expected a string, got 5; quote it if you mean the text: "5"']


@pytest.mark.parametrize(("axis", "values"), [
    ("[1, 2, 3]", (1, 2, 3)),
    ("[a, 'b', 1.5, null, [1], {k: v}]", ("a", "b", 1.5, None, [1], {"k": "v"})),
    ("{range: [3]}", range(3)),
    ("{range: [1, 4]}", range(1, 4)),
    ("{range: [10, 0, -3]}", range(10, 0, -3)),
    ("{range: [0, 1000000000]}", range(0, 1_000_000_000)),
    ("{glob: 'in/*.jpg'}", InputAxis("glob", "in/*.jpg")),
    ("{lines: inputs.txt}", InputAxis("lines", "inputs.txt")),
])
def test_foreach_axes(job: Callable[..., Job], axis: str, values: Any) -> None:
    task = job(HEAD + f"  - name: a\n    call: m:f\n    foreach: {{i: {axis}}}\n").tasks[0]
    assert task.foreach is not None and task.foreach["i"] == values


RANGE = "range takes 1 to 3 integers [start, stop, step] (stop excluded), got"
AXIS = ("expected a list of values, {range: [start, stop]}, {glob: PATTERN} or {lines: FILE}, "
        "got")
GLOB = "glob takes a pattern like \"in/*.jpg\" (relative to the job file's folder), got"
LINES = "lines takes a file name like \"inputs.txt\" (relative to the job file's folder), got"


@pytest.mark.parametrize(("axis", "message"), [
    ("[]", "a foreach list needs at least one value"),
    ("{range: [0]}", "range [0] is empty (the stop is excluded)"),
    ("{range: [5, 1]}", "range [5, 1] is empty (the stop is excluded)"),
    ("{range: [1, 5, -1]}", "range [1, 5, -1] is empty (the stop is excluded)"),
    ("{range: [1, 5, 0]}", "a range's step cannot be 0"),
    ("{range: []}", f"{RANGE} []"),
    ("{range: [1, 2, 3, 4]}", f"{RANGE} [1, 2, 3, 4]"),
    ("{range: [a, b]}", f'{RANGE} ["a", "b"]'),
    ("{range: [true]}", f"{RANGE} [true]"),
    ("{range: [1.5]}", f"{RANGE} [1.5]"),
    ("{range: 3}", f"{RANGE} 3"),
    ("{range: [3], step: 1}", f"{AXIS} a mapping"),
    ("{start: 1}", f"{AXIS} a mapping"),
    ("3", f"{AXIS} 3"),
    ("null", f"{AXIS} null"),
    ("{glob: 5}", f"{GLOB} 5"),
    ("{glob: ''}", f'{GLOB} "" (a string)'),
    ("{glob: '  '}", f'{GLOB} "  " (a string)'),
    ("{glob: [a]}", f"{GLOB} a list"),
    ("{lines: null}", f"{LINES} null"),
    ("{lines: {file: a}}", f"{LINES} a mapping"),
    ("{glob: a, lines: b}", f"{AXIS} a mapping"),
    ("{glob: a, range: [1]}", f"{AXIS} a mapping"),
    ("[1, 2, 1]", "the value 1 appears twice; every expansion of a task needs its own id, so "
     "foreach values must differ"),
    ("[1, '1']", "the value 1 appears twice; every expansion of a task needs its own id, so "
     "foreach values must differ"),
])
def test_bad_foreach_axes(problems: Callable[..., list[str]], axis: str, message: str) -> None:
    text = HEAD + f"  - name: a\n    call: m:f\n    foreach:\n      i: {axis}\n"
    assert problems(text) == [f"6:10: tasks[0].foreach.i: {message}"]


@pytest.mark.parametrize(("foreach", "expected"), [
    ("[1, 2]", "5:14: tasks[0].foreach: expected a mapping (key: value), got a list"),
    ("{1i: [1]}", '5:15: tasks[0].foreach.1i: expected a name of letters, digits and _ not '
     'starting with a digit, got "1i" (a string)'),
])
def test_bad_foreach_shapes(problems: Callable[..., list[str]], foreach: str,
                            expected: str) -> None:
    assert problems(HEAD + f"  - name: a\n    call: m:f\n    foreach: {foreach}\n") == [
        expected]


MAX = 2**63 - 1


def test_a_foreach_too_large_to_count(problems: Callable[..., list[str]]) -> None:
    text = HEAD + ("  - {name: a, call: m:f, foreach: {i: {range: [100000000000000000000]}}}\n"
                   "  - {name: b, call: m:f, foreach: {i: {range: [4611686018427387904]}, "
                   "j: [1, 2]}}\n")
    assert problems(text) == [
        f"3:35: tasks[0].foreach: this foreach expands to {10**20} tasks, more than the "
        f"{MAX} a plan can hold",
        f"4:35: tasks[1].foreach: this foreach expands to {2**63} tasks, more than the "
        f"{MAX} a plan can hold",
    ]


def test_a_job_too_large_to_count(problems: Callable[..., list[str]]) -> None:
    entry = "call: m:f, foreach: {i: {range: [4611686018427387904]}}}\n"
    assert problems(HEAD + f"  - {{name: a, {entry}  - {{name: b, {entry}") == [
        f"3:3: tasks: the job expands to {2**63} tasks, more than the {MAX} a plan can hold"]


def unknown(name: str, known: str) -> str:
    return f"unknown template variable {{{{ {name} }}}}; known here: {known}"


@pytest.mark.parametrize(("lines", "expected"), [
    ("    args: ['{{ j }}']\n", f"5:12: tasks[0].args[0]: {unknown('j', 'i, index, job')}"),
    ("    args: [1, {k: 'x{{j}}'}]\n",
     f"5:19: tasks[0].args[1].k: {unknown('j', 'i, index, job')}"),
    ("    kwargs: {a: '{{ j }}'}\n", f"5:17: tasks[0].kwargs.a: {unknown('j', 'i, index, job')}"),
    ("    name: 'a{{ j }}'\n", f"5:11: tasks[0].name: {unknown('j', 'i, index, job')}"),
    ("    env: {A: '{{ j }}'}\n", f"5:14: tasks[0].env.A: {unknown('j', 'i, index, job')}"),
    ("    cwd: '/x/{{ j }}'\n", f"5:10: tasks[0].cwd: {unknown('j', 'i, index, job')}"),
])
def test_unknown_template_variables_in_a_task(problems: Callable[..., list[str]], lines: str,
                                              expected: str) -> None:
    text = HEAD + "  - call: m:f\n    foreach: {i: [1]}\n" + lines
    if "name:" not in lines:
        text += "    name: a\n"
    assert problems(text) == [expected]


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\njournal: 'runs/{{ index }}.jsonl'\n" + HEAD[11:] + "  - {name: a, call: m:f}\n",
     f"2:10: journal: {unknown('index', 'job, run, started')}"),
    ("version: 1\ndefaults: {env: {A: '{{ i }}'}}\n" + HEAD[11:] + "  - {name: a, call: m:f}\n",
     f"2:21: defaults.env.A: {unknown('i', 'index, job')}"),
    (HEAD + "  - {name: a, command: 'echo {{ i }}'}\n",
     f"3:24: tasks[0].command: {unknown('i', 'index, job')}"),
])
def test_unknown_template_variables_elsewhere(problems: Callable[..., list[str]], text: str,
                                              expected: str) -> None:
    assert problems(text) == [expected]


def test_known_template_variables(job: Callable[..., Job]) -> None:
    text = (HEAD + "  - name: 't{{ i }}-{{ index }}'\n    command: 'echo {{ job }} {{i}}'\n"
            "    foreach: {i: [1]}\n    env: {A: '{{ index }}'}\n")
    assert job(text).tasks[0].name == "t{{ i }}-{{ index }}"


def test_duplicate_task_names(problems: Callable[..., list[str]]) -> None:
    text = HEAD + ("  - {name: a, call: m:f}\n  - {name: b, call: m:f}\n"
                   "  - {name: a, command: ls}\n  - name: a\n    call: m:g\n"
                   "  - {name: 't{{ i }}', call: m:f, foreach: {i: [1]}}\n"
                   "  - {name: 't{{ i }}', call: m:f, foreach: {i: [2]}}\n")
    msg = "task names must be unique"
    assert problems(text) == [
        f'5:12: tasks[2].name: duplicate task name "a" (tasks[0] has it); {msg}',
        f'6:11: tasks[3].name: duplicate task name "a" (tasks[0] has it); {msg}',
        f'9:12: tasks[5].name: duplicate task name "t{{{{ i }}}}" (tasks[4] has it); {msg}',
    ]


VALID = HEAD + "  - {name: a, call: m:f}\n"


@pytest.mark.parametrize(("overrides", "field", "value"), [
    (["workers=8"], "workers", 8),
    (["workers=3", "workers=5"], "workers", 5),
    (["mode=sync"], "mode", "sync"),
    (["name='8'"], "name", "8"),
    (['description="a b"'], "description", "a b"),
    (["journal_fsync=true"], "journal_fsync", True),
    (["max_failures=10%"], "max_failures", 0.1),
])
def test_set_overrides_read_values_as_plain_yaml(job: Callable[..., Job], overrides: list[str],
                                                 field: str, value: Any) -> None:
    assert getattr(job(VALID, overrides=overrides), field) == value


def test_set_reaches_into_sections(job: Callable[..., Job]) -> None:
    loaded = job("version: 1\nshutdown: {wait: false}\n" + VALID[11:],
                 overrides=["shutdown.grace=5s", "defaults.retries=2"])
    assert (loaded.shutdown.grace, loaded.shutdown.wait, loaded.defaults.retries) == (
        5.0, False, 2)


SYNTAX = ("expected key=value with a key of names joined by dots, e.g. --set workers=8 or "
          "--set shutdown.grace=5s")


@pytest.mark.parametrize(("item", "expected"), [
    ("workers", f"--set workers: {SYNTAX}"),
    ("=3", f"--set =3: {SYNTAX}"),
    ("a..b=1", f"--set a..b=1: {SYNTAX}"),
    ("tasks.0.timeout=5", f"--set tasks.0.timeout=5: {SYNTAX}"),
    ("workers=abc", '--set workers=abc: workers: expected an integer, got "abc" (a string)'),
    ("workers=0", "--set workers=0: workers: must be at least 1, got 0"),
    ("workers=no", '--set workers=no: workers: "no" is ambiguous: YAML 1.1 reads it as a '
     'boolean, YAML 1.2 as a string; write true or false, or quote it: "no"'),
    ("shutdown.grace=fast", '--set shutdown.grace=fast: shutdown.grace: expected a '
     'duration like "30s", "500ms", "1h30m" or a number of seconds, got "fast" (a string)'),
    ("wrkers=3", '--set wrkers=3: wrkers: unknown key "wrkers"; did you mean "workers"?'),
])
def test_bad_set_overrides_name_the_override(problems: Callable[..., list[str]], item: str,
                                             expected: str) -> None:
    assert problems(VALID, overrides=[item]) == [expected]


def test_set_into_a_value_that_is_not_a_mapping(problems: Callable[..., list[str]]) -> None:
    assert problems("version: 1\nshutdown: 5\n" + VALID[11:],
                    overrides=["shutdown.grace=5s"]) == [
        "--set shutdown.grace=5s: shutdown: is 5 in the file, not a mapping, so "
        "shutdown.grace cannot be set",
        "2:11: shutdown: expected a mapping (key: value), got 5",
    ]


def test_apply_overrides_directly() -> None:
    values: dict[str, Any] = {"workers": 2, "shutdown": {"wait": True}}
    found = apply_overrides(values, ["workers=8", "shutdown.grace=5s", "dask.upload=false"],
                            Positions("job.yml"))
    assert found == []
    assert values == {"workers": 8, "shutdown": {"wait": True, "grace": "5s"},
                      "dask": {"upload": False}}
