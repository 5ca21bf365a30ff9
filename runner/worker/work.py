"""What the runner hands a worker: the attempts to run and what every worker of a run
shares. Both sides read these types; they import nothing of either side.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple


class Work(NamedTuple):
    """One attempt as the worker needs it: the key the runner knows it by, and what to run."""

    key: int
    call: str
    args: list[Any]
    kwargs: dict[str, Any]
    env: dict[str, str]
    cwd: str | None
    name: str
    logs: str | None = None
    """With `logs:`, where the attempt's output files go, less `.out` / `.err`."""


class WorkerSetup(NamedTuple):
    """What every worker of a run shares; passed once, as the pool's initializer argument."""

    run_id: str
    runner_pid: int
    runner_created: float
    folder: str
    slots: Any = None
    slots_lock: Any = None
    generation: int = 0
    max_tasks: int | None = None
    job: Any = None
    """The Job, for workers that render spans of the plan themselves (see runner.engine.spans)."""
    capture: str | None = None
    """The run's private folder where workers keep their output (every local executor)."""
    rows: bool = False
    """Whether span workers send a row per ok task, for a console that prints each one."""


class CommandWork(NamedTuple):
    """A command attempt: argv (no shell) or a string for /bin/sh -c."""

    key: int
    command: str | list[str]
    env: dict[str, str]
    cwd: str | None
    name: str
    logs: str | None = None
    """With `logs:`, where the attempt's output files go, less `.out` / `.err`."""
    result: str | None = None
    """`stdout` or `json`: the task's result is taken from its stdout (runner.worker.results)."""


def command_argv(command: str | list[str]) -> tuple[list[str], str]:
    """A command's argv (a string runs under /bin/sh -c) and the name its process has."""
    if isinstance(command, str):
        return ["/bin/sh", "-c", command], "sh"
    return list(command), os.path.basename(command[0])
