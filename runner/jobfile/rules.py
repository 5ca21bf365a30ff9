"""Rules across the fields of a job file, checked on its raw values: task names
are unique and not blank, every `{{ name }}` is a template variable known where it
is used, and a template in a shell string stands where its value can be quoted.

Flow: yamlsafe (text -> values + positions) -> spec (values -> Job), and beside
it **rules** (values -> problems) -> plan.

The models see one field at a time, and a file with any schema error yields
no `Job` at all; working on the raw values instead lets the loader report
these problems together with the schema's, whatever else is wrong.
"""

from __future__ import annotations

from runner.jobfile import failure_checks, finite
from runner.jobfile.claims import claim_problems
from runner.jobfile.needs import aliases, need_problems
from runner.jobfile.template import names_in, shell_problem

BUILTIN_TEMPLATE_NAMES = frozenset({"index", "job"})
JOURNAL_TEMPLATE_NAMES = frozenset({"job", "started", "run"})
_TEMPLATED_TASK_FIELDS = ("name", "args", "kwargs", "command", "env", "cwd")

Problem = tuple[tuple[str | int, ...], str]


def semantic_problems(values: object) -> list[Problem]:
    """Rules the models cannot see one field at a time: unique names, known templates,
    quotable shell templates.

    Works on the raw values so that these problems are reported together with
    schema errors, even when other parts of the file are invalid.
    """
    if not isinstance(values, dict):
        return []
    problems = _unknown_templates(values.get("defaults"), ("defaults",), BUILTIN_TEMPLATE_NAMES)
    problems += _unknown_templates(values.get("journal"), ("journal",), JOURNAL_TEMPLATE_NAMES)
    problems += _unknown_templates(values.get("logs"), ("logs",), frozenset({"job"}))
    problems += claim_problems(values)
    problems += failure_checks.problems(values)
    problems += finite.problems(values)
    tasks = values.get("tasks")
    if not isinstance(tasks, list):
        return problems
    first_seen: dict[str, int] = {}
    for i, task in enumerate(tasks):
        if isinstance(task, dict):
            problems += _name_problems(i, task.get("name"), first_seen)
            problems += _template_problems(i, task)
    return problems + need_problems(tasks)


def _name_problems(i: int, name: object, first_seen: dict[str, int]) -> list[Problem]:
    """A task's name is not blank and no earlier task has it."""
    if not isinstance(name, str):
        return []
    if name and not name.strip():
        return [(("tasks", i, "name"), "is blank; a task needs a name that people can tell "
                 "apart in the console and the report")]
    if name in first_seen:
        return [(("tasks", i, "name"), f'duplicate task name "{name}" (tasks[{first_seen[name]}] '
                 "has it); task names must be unique")]
    first_seen[name] = i
    return []


def _template_problems(i: int, task: dict[str, object]) -> list[Problem]:
    """Every template names a known variable, and a shell string's can be quoted."""
    foreach = task.get("foreach")
    known = BUILTIN_TEMPLATE_NAMES | (set(foreach) if isinstance(foreach, dict) else set())
    known |= aliases(task)
    problems: list[Problem] = []
    for field in _TEMPLATED_TASK_FIELDS:
        problems += _unknown_templates(task.get(field), ("tasks", i, field), known)
    command = task.get("command")
    unsafe = shell_problem(command) if isinstance(command, str) else None
    if unsafe:
        problems.append((("tasks", i, "command"), unsafe))
    return problems


def _unknown_templates(
    value: object, where: tuple[str | int, ...], known: frozenset[str] | set[str]
) -> list[Problem]:
    unknown = [(path, name) for path, name in names_in(value) if name not in known]
    if not unknown:
        return []
    choices = ", ".join(sorted(known))
    return [((*where, *path), f"unknown template variable {{{{ {name} }}}}; known here: {choices}")
            for path, name in unknown]
