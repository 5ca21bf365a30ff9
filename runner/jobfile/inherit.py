"""What a task inherits from `defaults` among the settings that are not templated: its
claims (`resources`) and its failure rule (`retry_on`). The plan's entries hold the
result; the engine reads them there."""

from __future__ import annotations

from runner.jobfile.spec import CallTask, CommandTask, FailureRule, Resources, TaskDefaults


def resources(task: CallTask | CommandTask, defaults: TaskDefaults) -> Resources | None:
    """The task's claims over the defaults' claims, amount by amount (None: no claim)."""
    if task.resources is None and defaults.resources is None:
        return None
    amounts = {**(defaults.resources.amounts() if defaults.resources else {}),
               **(task.resources.amounts() if task.resources else {})}
    return Resources.model_construct(set(amounts), **amounts)


def memory_claim(claims: Resources | None) -> int | None:
    """The bytes of memory claimed, if any."""
    return None if claims is None else claims.memory


def retry_on(task: CallTask | CommandTask, defaults: TaskDefaults) -> FailureRule | None:
    """The task's own rule, else the defaults' (None: every failure is retried)."""
    return task.retry_on if task.retry_on is not None else defaults.retry_on
