"""`--only`: which tasks of a plan are part of a run.

A pattern is a glob over rendered names (`fnmatch` rules, case-sensitive) or
`tag:NAME` (every task of the entries tagged NAME). The run is the selected tasks
plus everything they need, transitively, as `make target` builds a target's
prerequisites: for a selected task t and a `needs` item naming entry F, the item's
`{{ var }}`s that are axes of both entries are bound to t's values, so t needs the
tasks of F with the same values (by their text); an item without bound variables
needs all of F.

Nothing per task is kept for the selection itself: each entry is chosen whole, by
globs over names, or by the values its dependents bind (one tuple per distinct
bound value, as the needs themselves are). The engine asks the predicate as it
hands tasks out, and skips the rest without a record: they are not part of the run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from fnmatch import fnmatchcase
from itertools import accumulate, islice
from typing import Any, NamedTuple

from runner.errors import UsageError
from runner.jobfile.job import Need
from runner.jobfile.needs import bound, normalised
from runner.jobfile.template import as_text, compile_value, names_in
from runner.plan import Entry, Plan, PlannedTask

TAG = "tag:"
SUGGESTED_FROM = 200
"""Names of each entry looked at for a did-you-mean (its first ones): a million-task
entry is not read whole to suggest a name."""

class Choice:
    """What one entry contributes to the run: all of it, the tasks whose name matches a
    glob, or those whose values on some axes are among the ones its dependents bind."""

    def __init__(self, globs: Sequence[str], every: bool) -> None:
        self.every = every
        self.globs = tuple(globs)
        self.bound: dict[tuple[str, ...], set[tuple[str, ...]]] = {}

    @property
    def nothing(self) -> bool:
        return not (self.every or self.globs or self.bound)

    def wants(self, name: str, values: dict[str, Any]) -> bool:
        if self.every or any(fnmatchcase(name, glob) for glob in self.globs):
            return True
        return any(tuple(as_text(values[axis]) for axis in axes) in keys
                   for axes, keys in self.bound.items())


class Selection:
    """The predicate `--only` gives the engine (`selection(task)`), and its counts."""

    def __init__(self, plan: Plan, patterns: Sequence[str]) -> None:
        self.plan = plan
        self.patterns = list(patterns)
        tags = {p[len(TAG):] for p in patterns if p.startswith(TAG)}
        globs = [p for p in patterns if not p.startswith(TAG)]
        self.choices = [Choice(globs, every=bool(tags.intersection(_tags(plan, position))))
                        for position in range(len(plan.entries))]
        self._firsts = list(accumulate((entry.count for entry in plan.entries), initial=0))
        """Each entry's first task's place in the plan (prefix sums of the counts)."""
        self._close_over_needs()

    def __call__(self, task: PlannedTask) -> bool:
        return self.choices[task.entry].wants(task.name, task.values)

    def count(self, skip: AbstractSet[str]) -> tuple[int, int]:
        """(tasks selected, those of them not in `skip`): the second is the run's total."""
        selected = remaining = 0
        for position, entry in enumerate(self.plan.entries):
            choice = self.choices[position]
            if choice.every and not skip:
                selected += entry.count
                remaining += entry.count
            elif not choice.nothing:
                for runs in self._selected(position, skip):
                    selected += 1
                    remaining += runs
        return selected, remaining

    def require_some(self, selected: int) -> None:
        """An `--only` that selects nothing is a mistake: exit 2 with the closest names."""
        if selected:
            return
        shown = " ".join(f"--only {p!r}" for p in self.patterns)
        raise UsageError(f"{shown}: selects no task; {self._suggestion()}")

    def _selected(self, position: int, skip: AbstractSet[str]) -> Iterator[bool]:
        """For each selected task of an entry, whether it runs (its id is not in `skip`);
        tasks are rendered in full only when there is a skip to look their ids up in."""
        entry, first, choice = self.plan.entries[position], self._firsts[position], \
            self.choices[position]
        if not skip:
            yield from (True for name, values in _instances(entry, first)
                        if choice.wants(name, values))
            return
        for offset in range(entry.count):
            task = entry.render_at(offset, first + offset)
            if choice.wants(task.name, task.values):
                yield task.id not in skip

    def _close_over_needs(self) -> None:
        """Each entry's choice grows by what its chosen dependents need; dependents are
        settled before what they need (a cycle is the job file's error, reported by
        its checks: here it only stops the walk)."""
        entries = self.plan.entries
        edges = {i: [(item.entry, item.bound) for item in items]
                 for i, items in enumerate(needs_items(self.plan))}
        waiting = [0] * len(entries)
        for items in edges.values():
            for needed, _ in items:
                waiting[needed] += 1
        ready = [i for i, n in enumerate(waiting) if n == 0]
        while ready:
            position = ready.pop()
            self._propagate(position, edges[position])
            for needed, _ in edges[position]:
                waiting[needed] -= 1
                if waiting[needed] == 0:
                    ready.append(needed)

    def _propagate(self, position: int, items: list[tuple[int, tuple[str, ...]]]) -> None:
        """What the chosen tasks of an entry need joins the needed entries' choices."""
        choice = self.choices[position]
        if choice.nothing or not items:
            return
        bound = [(needed, axes) for needed, axes in items if axes]
        chosen = choice.every
        if bound or not chosen:
            entry = self.plan.entries[position]
            for name, values in _instances(entry, self._firsts[position]):
                if choice.wants(name, values):
                    chosen = True
                    for needed, axes in bound:
                        keys = self.choices[needed].bound.setdefault(axes, set())
                        keys.add(tuple(as_text(values[axis]) for axis in axes))
                    if not bound:
                        break
        if chosen:
            for needed, axes in items:
                self.choices[needed].every |= not axes


    def _suggestion(self) -> str:
        tags = sorted({tag for position in range(len(self.plan.entries))
                       for tag in _tags(self.plan, position)})
        names = [*{entry.name_template: None for entry in self.plan.entries}]
        for position, entry in enumerate(self.plan.entries):
            first = self._firsts[position]
            names += [name for name, _ in islice(_instances(entry, first), SUGGESTED_FROM)]
        close: list[str] = []
        for pattern in self.patterns:
            if pattern.startswith(TAG):
                close += [TAG + t for t in difflib.get_close_matches(pattern[len(TAG):], tags)]
            else:
                close += difflib.get_close_matches(pattern, names)
        if close:
            return "did you mean " + ", ".join(dict.fromkeys(close)) + "?"
        hints = []
        if any(not pattern.startswith(TAG) for pattern in self.patterns):
            known = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            hints.append(f"task names look like {known or '(none: the plan is empty)'}")
        if any(pattern.startswith(TAG) for pattern in self.patterns):
            hints.append(f"tags: {', '.join(tags)}" if tags else "no entry has tags")
        return "; ".join(hints)


def _tags(plan: Plan, position: int) -> list[str]:
    return list(plan.job.tasks[position].tags)


class NeedItem(NamedTuple):
    """One `needs` item of an entry: the name as written (normalised), the entry it
    names, and the axes it binds to the dependent's own values."""

    name: str
    entry: int
    bound: tuple[str, ...]

    def named(self, values: dict[str, Any]) -> str:
        """What the item names for a task with these values: bound variables filled in
        (`convert-a`), free ones as written (`thumb-{{ f }}`: all of them)."""
        return bound(self.name, values)


def needs_items(plan: Plan) -> list[list[NeedItem]]:
    """The `needs` items of each entry, the entries found by name through one index
    built for them all; an item naming no entry is the job file's error, reported by
    its checks, and left out here."""
    by_name = {normalised(entry.name_template): i for i, entry in enumerate(plan.entries)}
    return [_items(plan, position, by_name) for position in range(len(plan.entries))]


def _items(plan: Plan, position: int, by_name: dict[str, int]) -> list[NeedItem]:
    own = set(plan.entries[position].names)
    items = []
    for item in plan.job.tasks[position].needs or []:
        name = normalised(item.task if isinstance(item, Need) else item)
        needed = by_name.get(name)
        if needed is not None:
            theirs = set(plan.entries[needed].names)
            variables = dict.fromkeys(variable for _, variable in names_in(name))
            items.append(NeedItem(name, needed, tuple(v for v in variables
                                                      if v in own and v in theirs)))
    return items


def _instances(entry: Entry, first: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(rendered name, values) of each task of an entry, rendering nothing else."""
    render = compile_value(entry.name_template, text=True)
    for offset, combination in enumerate(entry.combinations()):
        values = dict(zip(entry.names, combination))
        yield render({**values, "index": first + offset, "job": entry.job_name}), values
