"""`runner run --dry-run`: the plan as a person would write it, without running anything.

A call reads as Python (`tasks:square('kitty1', 1)`), a command as its shell line
(a list shell-quoted, a string as rendered), each under the task's rendered name,
with its needs when it has any. Env values are masked: a dry run's output ends up
in logs and tickets. `--json` prints one object per task with its id, name and
fields, for machines.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence

import typer

from runner.events import shown_name
from runner.jobfile.job import Job
from runner.plan import Plan, PlannedTask
from runner.selection import Selection, needs_items
from runner.system.envseal import keyed


def print_plan(job: Job, as_json: bool, only: Sequence[str]) -> None:
    """Every task of the run (`only` narrows it as it would the run), one line each."""
    plan = Plan(keyed(job))
    for notice in plan.notices:
        typer.echo(notice, err=True)
    selected: Callable[[PlannedTask], bool] = lambda task: True  # noqa: E731
    if only:
        selection = Selection(plan, only)
        selection.require_some(selection.count(frozenset())[0])
        selected = selection
    needs = needs_items(plan)
    for task in plan:
        if not selected(task):
            continue
        needed = [item.named(task.values) for item in needs[task.entry]]
        if as_json:
            fields = {**task._asdict(), "env": dict.fromkeys(task.env, "***")}
            typer.echo(json.dumps({**fields, "needs": needed} if needed else fields))
            continue
        env = "".join(f"  {name}=***" for name in task.env)
        typer.echo(f"{task.index:>6}  {shown_name(task.id, task.name)}  {written(task)}{env}")
        if needed:
            typer.echo(f"{'':>6}  needs: {', '.join(needed)}")


def written(task: PlannedTask) -> str:
    """`tasks:write_marker('out/marker1')`, `du -sh /tmp`, or `echo hello $USER`."""
    if task.call is not None:
        arguments = [repr(value) for value in task.args]
        arguments += [f"{key}={value!r}" for key, value in task.kwargs.items()]
        return f"{task.call}({', '.join(arguments)})"
    if isinstance(task.command, list):
        return shlex.join(task.command)
    return str(task.command)
