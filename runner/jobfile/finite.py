"""A task's data holds only numbers JSON can write: no `.nan`, `.inf` or `-.inf`.

The runner records a task's data as JSON (its `values` and id in the journal, its
`args` and `kwargs` in `runner run --dry-run --json`), and JSON has no form for a
number that is not finite; Python would write `NaN` or `Infinity`, which most
readers of JSON refuse. Every other field bounds its numbers, so only the fields
that take any value are walked: `args`, `kwargs` and the lists of `foreach`.
Works on raw values, like the other cross-field rules, so each one is reported at
its line:col with every other problem of the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

Problem = tuple[tuple[str | int, ...], str]
_SPELLING = {math.inf: ".inf", -math.inf: "-.inf"}
_TEXT = {".inf": "inf", "-.inf": "-inf", ".nan": "nan"}


def problems(values: dict[str, object]) -> list[Problem]:
    tasks = values.get("tasks")
    found: list[Problem] = []
    for i, task in enumerate(tasks if isinstance(tasks, list) else ()):
        if not isinstance(task, dict):
            continue
        for field in ("args", "kwargs"):
            found += [_problem(path, number) for path, number in _non_finite(
                task.get(field), ("tasks", i, field))]
        foreach = task.get("foreach")
        for axis, items in foreach.items() if isinstance(foreach, dict) else ():
            if isinstance(items, list):
                found += [_problem(path, number) for path, number in _non_finite(
                    items, ("tasks", i, "foreach", axis))]
    return found


def _non_finite(value: object, where: tuple[str | int, ...]
                ) -> Iterator[tuple[tuple[str | int, ...], float]]:
    """Every float in `value` (lists and mappings, however deep) that is not finite."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where, value
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from _non_finite(item, (*where, k))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, (*where, str(key)))


def _problem(where: tuple[str | int, ...], number: float) -> Problem:
    spelling = _SPELLING.get(number, ".nan")
    return (where, f"{spelling} has no JSON form, and the runner records a task's data as "
            "JSON (its journal, --dry-run --json); write it as text "
            f'("{_TEXT[spelling]}") and convert it in the task')
