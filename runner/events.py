"""What a run says about itself: task statuses, the record of one attempt, events, sinks.

The engine tells its sinks (the console, the progress bar, the journal,
`--json`, the API's collector) what happens through these events. Records and
events are NamedTuples: immutable, typed, and cheap enough to build one per task
for a million tasks. An `Outcome` is what crosses the process boundary from a
worker: plain strings and numbers (the result already encoded as JSON text, the
error as formatted text), never a live object, so nothing a task returns or
raises can break the pool on its way back.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from enum import Enum
from typing import Any, NamedTuple


class TaskStatus(str, Enum):
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    """Never started: the `if` of a task that needs others said not to run it."""

    def __str__(self) -> str:
        return self.value


def shown_name(task: str, name: str) -> str:
    """What a person sees for a task: its rendered name, or its id when the name alone
    does not tell expansions apart (a foreach whose name has no template: `greet[who=x]`)."""
    return task if task.startswith(name + "[") else name


class ErrorInfo(NamedTuple):
    """An exception or a failure, as text: type, message, formatted traceback."""

    type: str
    message: str
    traceback: str = ""


_LIKELY_CAUSES = {
    "SIGSEGV": "a crash in native code (a C extension, ctypes, a bad pointer)",
    "SIGBUS": "a crash in native code, or a memory-mapped file that shrank",
    "SIGABRT": "a failed assertion in native code (abort())",
    "SIGFPE": "an arithmetic fault in native code",
    "SIGILL": "native code built for another CPU",
    "SIGTERM": "a stop request from outside the runner",
    "SIGINT": "an interrupt (Ctrl-C) sent to the task's process group",
}


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def death_error(exit_code: int | None, pid: int, what: str = "worker process") -> ErrorInfo:
    """Why a process died, in words: the signal's name and its usual cause."""
    if exit_code is not None and exit_code < 0:
        name = signal_name(-exit_code)
        cause = _sigkill_cause() if name == "SIGKILL" else _LIKELY_CAUSES.get(
            name, "a signal from outside")
        message = f"the {what} (pid {pid}) was killed by {name}; likely cause: {cause}"
        return ErrorInfo("ProcessKilled", message)
    if exit_code is None:
        return ErrorInfo("ProcessLost", f"the {what} (pid {pid}) died in the middle of the "
                         "task; its exit status could not be read")
    return ErrorInfo(
        "ProcessExited",
        f"the {what} (pid {pid}) exited with code {exit_code} in the middle of the task "
        "(os._exit, or a native library calling exit())",
    )


def _sigkill_cause() -> str:
    """A SIGKILL the runner did not send (its own stops are described by the engine):
    the out-of-memory killer only when the kernel counted one during the run."""
    from runner.system import oom

    kills = oom.kills_since_mark()
    if kills is None:
        return "not the runner; the out-of-memory killer is a common cause, or a kill -9"
    if kills:
        return (f"the out-of-memory killer (the kernel counted {kills} OOM kill(s) during "
                "the run)")
    return ("a kill -9 from outside the runner (not the out-of-memory killer: the kernel "
            "counted no OOM kill during the run)")


def command_status(code: int, pid: int, name: str) -> tuple[TaskStatus, ErrorInfo | None]:
    """A finished command's exit code as its status: killed by a signal is a crash (with
    the signal's name and likely cause), any other nonzero code a failure."""
    if code < 0:
        return TaskStatus.CRASHED, death_error(code, pid, "command")
    if code:
        return TaskStatus.FAILED, ErrorInfo("CommandFailed", f"{name} exited with code {code}")
    return TaskStatus.OK, None


def spawn_error(program: str, exc: OSError, where: str = "") -> tuple[int, ErrorInfo]:
    """A command that could not be started, with the exit code a shell would give it:
    127 when not found, 126 when it cannot be executed."""
    code = 127 if isinstance(exc, FileNotFoundError) else 126
    hint = "not found on PATH" if code == 127 else "cannot be executed"
    return code, ErrorInfo(type(exc).__name__, f"{program!r} {hint}{where}: {exc}")


class Outcome(NamedTuple):
    """One finished attempt, as seen from where it ran. `result` is JSON text."""

    key: int
    status: TaskStatus
    started: float
    finished: float
    pid: int
    ppid: int
    process_name: str
    host: str
    result: str | None = None
    exit_code: int | None = None
    error: ErrorInfo | None = None
    stdout: str = ""
    stderr: str = ""
    journal: tuple[str, str, str, str] | None = None
    """The attempt's journal record as JSON fragments (runner.journal.format.Fragments), made
    where it ran; None when they are still to be made."""
    peak_rss: int = 0
    """Bytes: the most memory the attempt's processes held at once, as measured (0 when
    nothing was measured)."""
    cpu_time: float = 0.0
    """Seconds of CPU (user + system) the attempt's processes used."""
    kinds: tuple[str, ...] = ()
    """A callable's exception: the names of its class and every base (the MRO), so a
    failure rule can match a base class without importing anything."""


OkRow = tuple[int, str, str, int, int, float, "str | None", str, str]
"""A task of a span that ended ok at its first attempt, as a console prints it: its offset
in the span, task id, name, pid, ppid, seconds, result (JSON text), stdout, stderr."""


class SpanOutcome(NamedTuple):
    """What a worker sends back for a span (consecutive tasks it rendered itself): the
    ones that ended ok only as their journal lines and a count, since nothing is left to
    decide about them; the others as Outcomes, for the engine to decide. Tasks past
    `done` were not run (the runner closed the pool, or the worker reached its limit)."""

    key: int
    done: int
    ok: int
    lines: str
    others: list[Outcome]
    seconds: float
    rows: Sequence[OkRow] = ()
    """A row per ok task, when a sink prints each task (runner.engine.spans.rows_wanted)."""


def amend(outcome: Outcome, **changes: object) -> Outcome:
    """An outcome with some fields changed. Its journal fragments describe the old fields,
    so they are dropped, to be made again from the new ones; use this, not `_replace`."""
    return outcome._replace(**changes, journal=None)  # type: ignore[arg-type]


class JobStarted(NamedTuple):
    ts: float
    job: str
    run_id: str
    pid: int
    host: str
    executor: str
    workers: int
    mode: str
    total: int
    journal: str | None


class TaskStarted(NamedTuple):
    ts: float
    task: str
    name: str
    index: int  # type: ignore[assignment]  # the plan's index, shadowing tuple.index
    values: dict[str, Any]
    attempt: int
    pid: int
    ppid: int
    process_name: str
    host: str
    spec_hash: str
    outcome: Outcome | None = None
    """Set when the start is announced together with the end (a task too quick to be
    seen running): the journal reuses its fragments."""
    claims: dict[str, int] | None = None
    """What the attempt claims of `limits`, when it claims anything."""


class TaskFinished(NamedTuple):
    """The end of one attempt; `final` is False when a retry follows.

    `seq` counts tasks in the order the engine admitted them (0, 1, 2, ... with
    no gaps), so a sink can keep task order without knowing the plan."""

    ts: float
    task: str
    name: str
    index: int  # type: ignore[assignment]  # the plan's index, shadowing tuple.index
    values: dict[str, Any]
    """The task's foreach values by axis name ({} without foreach)."""
    seq: int
    attempt: int
    final: bool
    outcome: Outcome
    spec_hash: str
    retry_in: float | None = None
    logs: tuple[str, str] | None = None
    """With `logs:`, the paths of the attempt's whole stdout and stderr files."""
    claims: dict[str, int] | None = None


class SpanFinished(NamedTuple):
    """Tasks that all ended ok at their first attempt, as the journal lines that record
    them (task_started and task_finished, in order). Sent only in a run that uses spans,
    which needs every one of its sinks to say `accepts_spans` (runner.engine.spans.enabled
    decides); in any other run every task comes as a TaskStarted and a TaskFinished."""

    ts: float
    tasks: int
    lines: str
    seq: int = 0
    """The `seq` of the span's first task: a row's task has `seq + offset`."""
    rows: Sequence[OkRow] = ()
    """Its tasks as rows, when a sink asked for them (see Sink.span_rows)."""


class StopRequested(NamedTuple):
    """The run stops taking new work (or, `now`, stops its running tasks at once), told
    the moment it is decided so a person knows what happens next before it happens.

    `cause` says why (`SIGINT`, `max_failures reached (2 failed), on_failure: stop`);
    `running` tasks are waited for unless `stop_running`; `queued` tasks (handed out
    but not started, or not handed out yet) are cancelled when `cancel_queued`, else
    run first; `again` names what stops the running tasks at once (`Ctrl-C again`),
    when something does."""

    ts: float
    cause: str
    running: int
    queued: int
    cancel_queued: bool
    stop_running: bool
    now: bool = False
    again: str | None = None


class JobFinished(NamedTuple):
    ts: float
    counts: dict[str, int]
    exit_code: int
    duration: float
    interrupted_by: str | None
    stopped_by: str | None = None
    """Why the run stopped before its end (a signal, max_failures), None if it did not."""


class Sink:
    """Where events go: a sink overrides the hooks it needs; the others do nothing.
    A sink must not raise for a task's failure; a failure is data."""

    accepts_spans = False
    """True when the sink takes a SpanFinished in place of each task's TaskStarted and
    TaskFinished (for tasks that ended ok at their first attempt)."""

    span_rows = False
    """True when the sink prints each task: span workers then send a row per ok task."""

    def job_started(self, event: JobStarted) -> None:
        pass

    def task_started(self, event: TaskStarted) -> None:
        pass

    def task_finished(self, event: TaskFinished) -> None:
        pass

    def span_finished(self, event: SpanFinished) -> None:
        """Only called in a run whose sinks all say `accepts_spans` (see SpanFinished)."""

    def stopping(self, event: StopRequested) -> None:
        """The run stops early: a sink that tells a person says so at once."""

    def job_finished(self, event: JobFinished) -> None:
        pass

    def flush(self) -> None:
        """Called after each burst of events: write out whatever was buffered."""

    def close(self) -> None:
        """Called once, when the run is over or broken."""
