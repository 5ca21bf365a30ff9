"""The seam between the engine and the pools: one small interface, one thin adapter each.

    engine --submit(batch)--> Executor --run--> worker processes
       ^                          |
       +-- Report.finished/lost --+   (called on the engine's loop thread)

Executors run what they are given and say what happened; they decide no
policy. A `Loss` says which workers died, with their exit codes and the
attempt each was running (`culprits`), and which other attempts in flight
vanished with them (`orphans`); the engine decides what each one means
(crashed, timed out, interrupted, or to be run again at no charge).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from runner.events import Outcome, SpanOutcome
    from runner.system.loop import Loop


class Work(NamedTuple):
    """One attempt as the worker needs it: the key the runner knows it by, and what to run."""

    key: int
    call: str
    args: list[Any]
    kwargs: dict[str, Any]
    env: dict[str, str]
    cwd: str | None
    name: str


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
    """The Job, for workers that render spans of the plan themselves (pool, mp-pool)."""
    capture: str | None = None
    """The run's private folder where workers keep their output (every local executor)."""


class CommandWork(NamedTuple):
    """A command attempt: argv (no shell) or a string for /bin/sh -c."""

    key: int
    command: str | list[str]
    env: dict[str, str]
    cwd: str | None
    name: str


def command_argv(command: str | list[str]) -> tuple[list[str], str]:
    """A command's argv (a string runs under /bin/sh -c) and the name its process has."""
    if isinstance(command, str):
        return ["/bin/sh", "-c", command], "sh"
    return list(command), os.path.basename(command[0])


class Running(NamedTuple):
    """An attempt seen running: where and since when (wall clock)."""

    key: int
    pid: int
    ppid: int
    process_name: str
    host: str
    started: float


class Culprit(NamedTuple):
    """A worker process that died, and the attempt it was running if known, with
    what that attempt wrote before it died."""

    key: int | None
    pid: int
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""


class Loss(NamedTuple):
    culprits: list[Culprit]
    orphans: list[int]
    outputs: dict[int, tuple[str, str]] = {}  # noqa: RUF012 (never mutated)
    """What orphans whose worker died under them wrote (stdout, stderr): an orphan the
    runner was stopping ends with it."""


class Report(Protocol):
    def finished(self, outcomes: Sequence[Outcome]) -> None: ...

    def span_finished(self, reply: SpanOutcome) -> None: ...

    def lost(self, loss: Loss) -> None: ...


class Executor(Protocol):
    """What the engine may ask of an executor, and nothing more."""

    def submit(self, batch: Sequence[Any]) -> None: ...

    def running(self) -> list[Running]: ...

    def stop(self, key: int, signum: int) -> None: ...

    def close(self) -> None:
        """Start nothing more of what was submitted; running attempts carry on."""

    def shutdown(self, wait: bool) -> None: ...


@dataclass(frozen=True)
class ExecutorSetup:
    """Everything an executor needs to start its processes."""

    kind: str
    workers: int
    start_method: str
    max_tasks_per_worker: int | None
    worker: WorkerSetup
    loop: Loop
    report: Report
    dask_address: str | None = None
    dask_upload: bool = True


def unsent(key: int, error: BaseException) -> Outcome:
    """The outcome of an attempt the pool could not even hand to a worker."""
    import os
    import socket
    import time

    from runner.events import ErrorInfo, Outcome, TaskStatus

    now = time.time()
    info = ErrorInfo(type(error).__name__, f"could not be sent to a worker: {error}")
    return Outcome(key, TaskStatus.FAILED, now, now, os.getpid(), os.getppid(), "runner",
                   socket.gethostname(), error=info)


def capture_folder(setup: ExecutorSetup) -> str:
    """The run's folder of capture files, which the workers of local executors write into."""
    if setup.worker.capture is None:
        raise ValueError("a local executor needs the run's capture folder")
    return setup.worker.capture


def open_executors(setup: ExecutorSetup) -> tuple[Executor, Executor]:
    """The executor for callables and the one for commands. Dask runs both; otherwise the
    callables' executor is made at its first attempt, so that a job of commands never
    imports multiprocessing and the pools."""
    from runner.executors.commands import CommandExecutor

    if setup.kind == "dask":
        from runner.executors.dask import DaskExecutor

        dask = DaskExecutor(setup)
        return dask, dask
    return _Deferred(setup, _callables_executor), CommandExecutor(setup)


def _callables_executor(setup: ExecutorSetup) -> Executor:
    if setup.kind == "process":
        from runner.executors.process import ProcessExecutor

        return ProcessExecutor(setup)
    if setup.kind == "mp-pool":
        from runner.executors.mppool import MultiprocessingPoolExecutor

        return MultiprocessingPoolExecutor(setup)
    from runner.executors.pool import PoolExecutor

    return PoolExecutor(setup)


class _Deferred:
    """An executor made when the first attempt is submitted; until then it runs nothing,
    so there is nothing to stop or shut down."""

    def __init__(self, setup: ExecutorSetup, make: Callable[[ExecutorSetup], Executor]) -> None:
        self._setup = setup
        self._make = make
        self._made: Executor | None = None

    def submit(self, batch: Sequence[Any]) -> None:
        if self._made is None:
            self._made = self._make(self._setup)
        self._made.submit(batch)

    def running(self) -> list[Running]:
        return self._made.running() if self._made else []

    def stop(self, key: int, signum: int) -> None:
        if self._made:
            self._made.stop(key, signum)

    def close(self) -> None:
        if self._made:
            self._made.close()

    def shutdown(self, wait: bool) -> None:
        if self._made:
            self._made.shutdown(wait)
