"""What a task inherits from `defaults` among the settings that are not templated: its
claims (`resources`) and its failure rule (`retry_on`). The plan's entries hold the
result; the engine reads them there."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.jobfile.job import CallTask, CommandTask, FailureRule, TaskDefaults


def claims(task: CallTask | CommandTask, defaults: TaskDefaults) -> dict[str, int]:
    """The task's claims over the defaults' claims, amount by amount ({}: no claim)."""
    return {**(defaults.resources.amounts() if defaults.resources else {}),
            **(task.resources.amounts() if task.resources else {})}


def retry_on(task: CallTask | CommandTask, defaults: TaskDefaults) -> FailureRule | None:
    """The task's own rule, else the defaults' (None: every failure is retried)."""
    return task.retry_on if task.retry_on is not None else defaults.retry_on
