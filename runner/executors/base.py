"""The seam between the engine and the pools: what the engine may ask of an executor,
what an executor tells it back, and what each kind of executor can do.

    engine --submit(batch)--> Executor --run--> worker processes
       ^                          |
       +-- Listener.finished/lost +   (called on the engine's loop thread)

Executors run what they are given and say what happened; they decide no
policy. A `Loss` says which workers died, with their exit codes and the
attempt each was running (`culprits`), and which other attempts in flight
vanished with them (`orphans`); the engine decides what each one means
(crashed, timed out, interrupted, or to be run again at no charge).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from runner.worker.work import WorkerSetup

if TYPE_CHECKING:
    from runner.events import Outcome, SpanOutcome
    from runner.system.loop import Loop


class Capabilities(NamedTuple):
    """What a kind of executor can do; the engine and admission read this, never its name."""

    batches: bool
    """Several calls travel in one message to one worker (else one call per submission)."""
    spans: bool
    """A worker can render and run a span of consecutive plan tasks itself."""
    process_per_call: bool
    """Each call is a process of its own: at most `workers` calls at once, no queue."""
    places_per_worker: int
    """Attempts in flight per worker (calls count two batches a place, one running and one
    waiting); more than one hides the cost of a submission's round trip."""
    commands_on_workers: bool
    """Commands run on the same workers as calls, so those workers alone bound how many
    tasks of either kind run at once; else the runner shares `workers` between the
    commands it spawns and the calls' workers."""


class Running(NamedTuple):
    """An attempt seen running: where and since when (wall clock)."""

    key: int
    pid: int
    ppid: int
    process_name: str
    host: str
    started: float
    base_rss: int = 0
    """Bytes the process held before the attempt began, when it runs many attempts (a pool
    worker): what the attempt adds is counted from there."""


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


class Listener(Protocol):
    """What an executor tells the engine, always on the engine's loop thread."""

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


class ExecutorSetup(NamedTuple):
    """Everything an executor needs to start its processes."""

    kind: str
    workers: int
    start_method: str
    max_tasks_per_worker: int | None
    worker: WorkerSetup
    loop: Loop
    listener: Listener
    dask_address: str | None = None
    dask_upload: bool = True


def capture_folder(setup: ExecutorSetup) -> str:
    """The run's folder of capture files, which the workers of local executors write into."""
    if setup.worker.capture is None:
        raise ValueError("a local executor needs the run's capture folder")
    return setup.worker.capture
