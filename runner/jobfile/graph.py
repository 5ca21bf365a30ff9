"""`runner graph`: a job's entries and their needs as a Mermaid flowchart (GitHub renders
it in Markdown) or a Graphviz digraph.

Flow: load -> spec -> **graph** (text). One node per `tasks:` entry, labelled with its
name as written; one edge per `needs` item, from the needed entry to the one that
needs it, labelled with how their tasks pair up (the axes bound one-to-one, a fan-out
from one task, a fan-in over the other axes), the `as` variable and the dependent's
`if`. Nothing is expanded: a graph costs nothing whatever the foreach sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from runner.jobfile.job import CallTask, CommandTask, Job, Need
from runner.jobfile.needs import normalised
from runner.jobfile.template import names_in


class Edge(NamedTuple):
    """`source` is needed by `target` (entry positions); `label` says how."""

    source: int
    target: int
    label: str


def edges(job: Job) -> list[Edge]:
    """Every `needs` item of every entry, in file order."""
    by_name = {normalised(task.name): i for i, task in enumerate(job.tasks)}
    found: list[Edge] = []
    for target, task in enumerate(job.tasks):
        for item in task.needs or []:
            name = item.task if isinstance(item, Need) else item
            source = by_name[normalised(name)]  # the loader has refused any other
            alias = item.as_ if isinstance(item, Need) else None
            found.append(Edge(source, target, _label(job.tasks[source], task, name, alias)))
    return found


def _label(needed: CallTask | CommandTask, needing: CallTask | CommandTask, item: str,
           alias: str | None) -> str:
    """How the tasks pair up: the axes the item binds one-to-one, a fan-in over the
    needed entry's other axes, a fan-out when one task is needed by many."""
    needed_axes = list(needed.foreach or {})
    bound = [name for _, name in names_in(item)
             if name in needed_axes and name in (needing.foreach or {})]
    free = [name for name in needed_axes if name not in bound]
    parts = []
    if bound:
        parts.append(f"one-to-one: {', '.join(bound)}")
    if free:
        parts.append(f"fan-in over {', '.join(free)}")
    elif not needed_axes and needing.foreach:
        parts.append("fan-out")
    if alias:
        parts.append(f"as: {alias}")
    if needing.if_:
        parts.append(f"if: {needing.if_}")
    return "; ".join(parts)


def mermaid(job: Job) -> str:
    """A Mermaid `flowchart`, top to bottom; labels quoted, with Mermaid's entity codes
    for the characters its syntax or its HTML labels would read."""
    lines = ["flowchart TD"]
    lines += [f'  n{i}["{_mermaid_text(task.name)}"]' for i, task in enumerate(job.tasks)]
    for edge in edges(job):
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"  n{edge.source} -->{label} n{edge.target}")
    return "\n".join(lines) + "\n"


def dot(job: Job) -> str:
    """A Graphviz `digraph`; every name and label a double-quoted, escaped string."""
    lines = [f"digraph {_dot_text(job.job_name)} {{", "  rankdir=TB;", "  node [shape=box];"]
    lines += [f"  n{i} [label={_dot_text(task.name)}];" for i, task in enumerate(job.tasks)]
    for edge in edges(job):
        label = f" [label={_dot_text(edge.label)}]" if edge.label else ""
        lines.append(f"  n{edge.source} -> n{edge.target}{label};")
    return "\n".join([*lines, "}"]) + "\n"


FORMATS: dict[str, Callable[[Job], str]] = {"mermaid": mermaid, "dot": dot}

_MERMAID_CODES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;",
                  "`": "#96;", "|": "#124;", "\n": " ", "\r": " "}


def _mermaid_text(text: str) -> str:
    return "".join(_MERMAID_CODES.get(c, c) for c in text)


def _dot_text(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'
