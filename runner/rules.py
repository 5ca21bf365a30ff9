"""Rules across the fields of a job file, checked on its raw values: task names
are unique, and every `{{ name }}` is a template variable known where it is used.

Flow: yamlsafe (text -> values + positions) -> spec (values -> Job), and beside
it **rules** (values -> problems) -> plan.

The models see one field at a time, and a file with any schema error yields
no `Job` at all; working on the raw values instead lets the loader report
these problems together with the schema's, whatever else is wrong.
"""

from __future__ import annotations

from runner.template import names_in

BUILTIN_TEMPLATE_NAMES = frozenset({"index", "job"})
JOURNAL_TEMPLATE_NAMES = frozenset({"job", "started", "run"})
_TEMPLATED_TASK_FIELDS = ("name", "args", "kwargs", "command", "env", "cwd")

Problem = tuple[tuple[str | int, ...], str]


def semantic_problems(values: object) -> list[Problem]:
    """Rules the models cannot see one field at a time: unique names, known templates.

    Works on the raw values so that these problems are reported together with
    schema errors, even when other parts of the file are invalid.
    """
    if not isinstance(values, dict):
        return []
    problems = _unknown_templates(values.get("defaults"), ("defaults",), BUILTIN_TEMPLATE_NAMES)
    problems += _unknown_templates(values.get("journal"), ("journal",), JOURNAL_TEMPLATE_NAMES)
    tasks = values.get("tasks")
    if not isinstance(tasks, list):
        return problems
    first_seen: dict[str, int] = {}
    for i, task in enumerate(tasks):
        if not isinstance(task, dict):
            continue
        name = task.get("name")
        if isinstance(name, str):
            if name in first_seen:
                problems.append(
                    (("tasks", i, "name"), f'duplicate task name "{name}" '
                     f"(tasks[{first_seen[name]}] has it); task names must be unique")
                )
            first_seen.setdefault(name, i)
        foreach = task.get("foreach")
        known = BUILTIN_TEMPLATE_NAMES | (set(foreach) if isinstance(foreach, dict) else set())
        for field in _TEMPLATED_TASK_FIELDS:
            problems += _unknown_templates(task.get(field), ("tasks", i, field), known)
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
