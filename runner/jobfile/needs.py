"""Rules of `needs`, `as` and `if`, checked on a job file's raw values, and the one
reading of a `needs` item that validation and the engine share.

Flow: yamlsafe -> **rules** (this module through `rules.semantic_problems`) -> plan.

An item names an entry by its `name` as written, spaces inside `{{ }}` aside; its
`{{ var }}`s must be foreach axes of that entry. Mistakes are reported at the item,
every one of them at once: an unknown entry (with a did-you-mean), an entry that
needs itself, a cycle (named in full), an `as` that clashes with an axis, a reserved
name or another `as` of the same task, and an `if` without `needs`.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, NamedTuple

from runner.jobfile.template import as_text, names_in

RESERVED = frozenset({"index", "job"})
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
"""A `{{ name }}` in a `needs` item, however it is spaced."""

Problem = tuple[tuple[str | int, ...], str]


class NeedRef(NamedTuple):
    """One `needs` item as written: the entry's name (normalised), the variable its
    results become (or None), and where it sits under the task (`needs`, j[, `task`])."""

    name: str
    alias: str | None
    path: tuple[str | int, ...]


def normalised(name: str) -> str:
    """A name with every `{{ x }}` written the same way, so spacing does not matter."""
    return VARIABLE.sub(r"{{ \1 }}", name)


def refs(needs: object) -> list[NeedRef]:
    """The readable items of a task's raw `needs` (the schema reports the others)."""
    if not isinstance(needs, list):
        return []
    found = []
    for j, item in enumerate(needs):
        if isinstance(item, str) and item:
            found.append(NeedRef(normalised(item), None, ("needs", j)))
        elif isinstance(item, dict) and isinstance(item.get("task"), str):
            alias = item.get("as")
            found.append(NeedRef(normalised(item["task"]),
                                 alias if isinstance(alias, str) else None,
                                 ("needs", j, "task")))
    return found


def bound(name: str, values: dict[str, Any]) -> str:
    """An item as one task needs it: its variables that are the task's own axes take
    the task's values; the others stay, meaning every instance over them."""
    return VARIABLE.sub(lambda m: as_text(values[m.group(1)]) if m.group(1) in values
                       else m.group(0), name)


def aliases(task: object) -> set[str]:
    """The `as` variables a raw task receives: known template variables of its own."""
    if not isinstance(task, dict):
        return set()
    return {ref.alias for ref in refs(task.get("needs")) if ref.alias}


def need_problems(tasks: list[Any]) -> list[Problem]:
    """Every mistake in the tasks' `needs`, `as` and `if`, at the item."""
    names: dict[str, int] = {}
    twins: set[str] = set()  # names that differ only in spaces inside {{ }}
    for i, task in enumerate(tasks):
        if isinstance(task, dict) and isinstance(task.get("name"), str):
            name = normalised(task["name"])
            if name in names:
                twins.add(name)
            names.setdefault(name, i)
    edges: dict[int, list[tuple[int, tuple[str | int, ...]]]] = {}
    problems: list[Problem] = []
    for i, task in enumerate(tasks):
        if not isinstance(task, dict):
            continue
        if task.get("if") is not None and not task.get("needs"):
            problems.append((("tasks", i, "if"), "`if` without `needs`: it says when to run "
                             "after the tasks this one needs; add `needs` or remove `if`"))
        seen_as: dict[str, int] = {}
        for ref in refs(task.get("needs")):
            where = ("tasks", i, *ref.path)
            target = names.get(ref.name)
            if target is None:
                problems.append((where, _unknown(ref.name, list(names))))
                continue
            if ref.name in twins:
                problems.append((where, f'needs "{ref.name}", which names several tasks '
                                 "(their names differ only in spaces inside {{ }})"))
                continue
            if target == i:
                problems.append((where, f'task "{ref.name}" needs itself'))
                continue
            edges.setdefault(i, []).append((target, where))
            problems += _variable_problems(ref, where, tasks[target])
            if ref.alias is not None:
                problems += _alias_problems(ref.alias, where, task, seen_as)
    return problems + _cycle_problems(edges, tasks)


def axes_of(task: object) -> list[str]:
    foreach = task.get("foreach") if isinstance(task, dict) else None
    return list(foreach) if isinstance(foreach, dict) else []


def _unknown(name: str, known: list[str]) -> str:
    message = f'needs "{name}", but no task has that name'
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    if close:
        return message + f'; did you mean "{close[0]}"?'
    return message + (f"; tasks: {', '.join(known[:10])}" if known else "")


def _variable_problems(ref: NeedRef, where: tuple[str | int, ...], needed: object) -> list[Problem]:
    """Each `{{ var }}` of an item is an axis of the needed entry (it says which of its
    instances are needed)."""
    axes = axes_of(needed)
    return [(where, f"{{{{ {name} }}}} in a need is not a foreach axis of \"{ref.name}\"; "
             f"its axes: {', '.join(axes) or '(none)'}")
            for _, name in names_in(ref.name) if name not in axes]


def _alias_problems(alias: str, where: tuple[str | int, ...], task: dict[str, Any],
                    seen: dict[str, int]) -> list[Problem]:
    where = (*where[:-1], "as")
    if alias in RESERVED:
        return [(where, f'`as: {alias}` clashes with the built-in template variable "{alias}"')]
    if alias in axes_of(task):
        return [(where, f'`as: {alias}` clashes with this task\'s foreach axis "{alias}"')]
    if alias in seen:
        return [(where, f"`as: {alias}` is given twice in this task's needs "
                 f"(needs[{seen[alias]}] has it)")]
    seen[alias] = int(where[-2])
    return []


def _cycle_problems(edges: dict[int, list[tuple[int, tuple[str | int, ...]]]],
                    tasks: list[Any]) -> list[Problem]:
    """Each cycle once, at the item that closes it, named in full: `a -> b -> a`."""
    state: dict[int, int] = {}  # 1 on the path, 2 done
    problems: list[Problem] = []
    for start in list(edges):  # depth first, with a stack: a chain may be any length
        if start in state:
            continue
        state[start] = 1
        path = [start]
        stack = [iter(edges.get(start, []))]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                state[path.pop()] = 2
                continue
            target, where = step
            if state.get(target) == 1:
                cycle = [*path[path.index(target):], target]
                named = " -> ".join(str(tasks[k]["name"]) for k in cycle)
                problems.append((where, f"needs form a cycle: {named}"))
            elif target not in state:
                state[target] = 1
                path.append(target)
                stack.append(iter(edges.get(target, [])))
    return problems
