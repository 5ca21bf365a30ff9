"""Which `tasks:` entry each task of a journal came from, and what each entry did: the
report's view of a job's stages.

A task's id is its entry's name as written plus its foreach values
(`convert-{{ f }}[f=a.jpg]`), and its record carries those values, so the entry is
the id without the suffix the values make: derived, never stored twice. Tallies are
kept per entry, in the order entries first appear, for at most `ENTRY_CAP` entries
(a journal is text anyone can write; the rest share one row).
"""

from __future__ import annotations

import colorsys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from runner.jobfile.template import as_text

ENTRY_CAP = 1000
OTHERS = "(other entries)"
_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
            "#ff9da7", "#9c755f", "#bab0ac")
"""Ten colours told apart by most readers, colour-blind ones included (Tableau 10)."""


def entry_of(task: str, values: object) -> str:
    """The entry's name as written: the id without `[axis=value,...]`. A journal written
    before records carried their values says only the id: its first `[` starts the
    suffix then, as no such journal can hold an entry named with one and a foreach."""
    if isinstance(values, dict):
        if not values:
            return task
        suffix = "[" + ",".join(f"{key}={as_text(value)}" for key, value in values.items()) + "]"
        if task.endswith(suffix):
            return task[:-len(suffix)]
    cut = task.find("[")
    return task[:cut] if cut > 0 else task


@dataclass
class Tally:
    """One entry's final attempts by status, its attempts and the time they took."""

    counts: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    task_time: float = 0.0


class Entries:
    """Tallies by entry, fed every attempt of a journal; bounded by `ENTRY_CAP`."""

    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = {}

    def add(self, entry: str, status: str, duration: float, final: bool) -> None:
        tally = self.tallies.get(entry)
        if tally is None:
            key = entry if len(self.tallies) < ENTRY_CAP else OTHERS
            tally = self.tallies.setdefault(key, Tally())
        tally.attempts += 1
        tally.task_time += duration
        if final:
            tally.counts[status] += 1

    def summary(self) -> list[dict[str, Any]]:
        """Per entry, JSON-ready, with the colour the page draws it in."""
        return [{"entry": name, "tasks": sum(tally.counts.values()), "counts": dict(tally.counts),
                 "attempts": tally.attempts, "task_time": round(tally.task_time, 6),
                 "colour": colour(i)} for i, (name, tally) in enumerate(self.tallies.items())]


def colour(i: int) -> str:
    """The palette, then hues a golden angle apart: neighbours always differ."""
    if i < len(_PALETTE):
        return _PALETTE[i]
    red, green, blue = colorsys.hls_to_rgb((i * 0.381966) % 1.0, 0.5, 0.55)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
