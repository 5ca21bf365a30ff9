"""Which instances of a needed entry a dependent task needs, as arithmetic on plan offsets.

Flow: plan -> **matching** -> needs (the ready source) -> admission.

An entry's tasks are the product of its axes, first axis outermost, so a task is a
tuple of digits (one position per axis) and its offset their mixed-radix number.
A `needs` item splits the needed entry's axes into bound ones (its `{{ var }}`s that
are also axes of the dependent) and free ones. The instances with the same bound
digits form a group: the dependent task with those values needs that group, all of
it (one task when nothing is free: one-to-one; many: one-to-group or fan-in). Values
match by their text; axis values are unique by text, so each bound value of the
dependent names at most one position of the needed axis. When both axes hold the
same values in the same order (the same list, an equal range) the positions are the
same and no table is built; otherwise one dict per bound axis and direction.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

from runner.errors import UsageError
from runner.jobfile.needs import normalised
from runner.jobfile.template import as_text, names_in
from runner.plan import Entry


def digits(entry: Entry, offset: int) -> list[int]:
    """The axis positions of the task at `offset`, first axis first."""
    out = [0] * len(entry.sizes)
    for k in range(len(entry.sizes) - 1, -1, -1):
        offset, out[k] = divmod(offset, entry.sizes[k])
    return out


def strides(sizes: Sequence[int]) -> list[int]:
    out, step = [0] * len(sizes), 1
    for k in range(len(sizes) - 1, -1, -1):
        out[k], step = step, step * sizes[k]
    return out


class AxisMap:
    """Positions of one bound axis in the dependent (`mine`) and the needed entry
    (`theirs`), each way; identity when both axes are the same values in order."""

    def __init__(self, mine: Sequence[Any], theirs: Sequence[Any]) -> None:
        self.identity = mine is theirs or (type(mine) is type(theirs) and mine == theirs)
        self._to: dict[str, int] = {}
        self._back: dict[str, int] = {}
        self._mine, self._theirs = mine, theirs
        if not self.identity:
            self._to = {as_text(value): k for k, value in enumerate(theirs)}
            self._back = {as_text(value): k for k, value in enumerate(mine)}

    def to_theirs(self, position: int) -> int | None:
        if self.identity:
            return position
        return self._to.get(as_text(self._mine[position]))

    def to_mine(self, position: int) -> int | None:
        if self.identity:
            return position
        return self._back.get(as_text(self._theirs[position]))

    def missing(self) -> Iterator[Any]:
        """Values of the dependent's axis the needed entry does not have."""
        if not self.identity:
            yield from (value for value in self._mine if as_text(value) not in self._to)


class Item:
    """One `needs` item of one dependent entry, with the ended count and the statuses
    seen of each group of the needed entry: bookkeeping per bound value, not per task."""

    def __init__(self, dependent: int, needed: int, entries: list[Entry], name: str,
                 alias: str | None) -> None:
        self.dependent, self.needed, self.name, self.alias = dependent, needed, name, alias
        mine, theirs = entries[dependent], entries[needed]
        used = {var for _, var in names_in(name)}
        self.bound = [k for k, axis in enumerate(theirs.names) if axis in used
                      and axis in mine.names]
        self.mine_axes = [mine.names.index(theirs.names[k]) for k in self.bound]
        self.maps = [AxisMap(mine.axes[m][1], theirs.axes[k][1])
                     for m, k in zip(self.mine_axes, self.bound)]
        bound_sizes = [theirs.sizes[k] for k in self.bound]
        self.group_strides = strides(bound_sizes)
        self.groups = math.prod(bound_sizes)
        self.size = theirs.count // self.groups if self.groups else 0
        self.ended = array("I", bytes(4 * self.groups))
        self.flags = bytearray(self.groups)
        self.first_bad: dict[int, str] = {}
        self.aligned = (self.bound == list(range(len(theirs.sizes))) and mine.names == theirs.names
                        and all(axis_map.identity for axis_map in self.maps))
        """One-to-one over the same axes: the dependent at offset k needs the task at k."""
        self._theirs, self._mine = theirs, mine

    @property
    def single(self) -> bool:
        """Whether each dependent task needs exactly one task (its `as` is one value)."""
        return len(self.bound) == len(self._theirs.sizes)

    def check_bindings(self) -> None:
        """A dependent value the needed entry does not have is a mistake, found now."""
        for axis_map, m in zip(self.maps, self.mine_axes):
            for value in axis_map.missing():
                axis = self._mine.names[m]
                raise UsageError(
                    f'task "{self._mine.name_template}" with {axis}={as_text(value)} needs '
                    f'"{self.name}", but no task of it has {axis}={as_text(value)}')

    def group_of_needed(self, needed_digits: list[int]) -> int:
        return sum(needed_digits[k] * s for k, s in zip(self.bound, self.group_strides))

    def group_of(self, dependent_digits: list[int]) -> int:
        group = 0
        for axis_map, m, s in zip(self.maps, self.mine_axes, self.group_strides):
            position = axis_map.to_theirs(dependent_digits[m])
            assert position is not None  # check_bindings refused any other
            group += position * s
        return group

    def complete(self, group: int) -> bool:
        return self.ended[group] >= self.size

    def dependents(self, group: int) -> Iterator[int]:
        """The offsets of the dependent's tasks that need this group, in plan order."""
        fixed: dict[int, int] = {}
        rest = group
        for axis_map, m, s in zip(self.maps, self.mine_axes, self.group_strides):
            position, rest = divmod(rest, s)
            mine = axis_map.to_mine(position)
            if mine is None:
                return
            fixed[m] = mine
        sizes = self._mine.sizes
        ranges = [range(fixed[k], fixed[k] + 1) if k in fixed else range(sizes[k])
                  for k in range(len(sizes))]
        step = strides(sizes)
        yield from _offsets(ranges, step, 0, 0)

    def members(self, group: int) -> Iterator[int]:
        """The offsets of the needed entry's tasks in the group, in plan order."""
        sizes = self._theirs.sizes
        rest, fixed = group, {}
        for k, s in zip(self.bound, self.group_strides):
            fixed[k], rest = divmod(rest, s)
        ranges = [range(fixed[k], fixed[k] + 1) if k in fixed else range(sizes[k])
                  for k in range(len(sizes))]
        yield from _offsets(ranges, strides(sizes), 0, 0)


def _offsets(ranges: list[range], step: list[int], k: int, base: int) -> Iterator[int]:
    if k == len(ranges):
        yield base
        return
    if k == len(ranges) - 1:
        yield from (base + d * step[k] for d in ranges[k])
        return
    for d in ranges[k]:
        yield from _offsets(ranges, step, k + 1, base + d * step[k])


def items_of(entries: list[Entry], needs: list[list[tuple[str, str | None]]]) -> list[list[Item]]:
    """Each entry's items, the needed entry found by its normalised name."""
    by_name = {normalised(entry.name_template): k for k, entry in enumerate(entries)}
    return [[Item(d, by_name[normalised(name)], entries, normalised(name), alias)
             for name, alias in entry_needs] for d, entry_needs in enumerate(needs)]
