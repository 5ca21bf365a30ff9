"""`runner.run(job) -> RunResult`: plan, sinks and engine put together for one run.

The CLI is a thin layer over this function; anything a command-line flag can
do, a Python caller can do with an argument.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runner.errors import ExitCode, RunnerError, UsageError
from runner.events import Sink, TaskFinished
from runner.jobfile.job import Job

if TYPE_CHECKING:
    from runner.journal.logfiles import Logs
    from runner.plan import Plan
    from runner.selection import Selection
    from runner.sinks.journal import Journal


@dataclass(frozen=True)
class RunResult:
    """How a run ended. `tasks` holds each task's final record when collected."""

    job: str
    run_id: str
    exit_code: ExitCode
    counts: dict[str, int]
    duration: float
    journal: Path | None
    interrupted_by: str | None = None
    tasks: list[TaskFinished] = field(default_factory=list)
    stopped_by: str | None = None
    """Why the run stopped early (a signal, max_failures reached), None if it did not."""

    @property
    def ok(self) -> bool:
        return self.exit_code == ExitCode.OK

    def results(self) -> dict[str, Any]:
        """Task id -> returned value (decoded from JSON) of every task that ended ok."""
        import json

        return {t.task: json.loads(t.outcome.result) for t in self.tasks
                if t.outcome.result is not None}


def default_workers() -> int:
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        return int(counter() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_journal(job: Job, started: float, run_id: str) -> Path:
    """`.runner/runs/<job>-<UTC time>-<run id>.jsonl`, or the job file's `journal:`
    template: the run id makes each run's journal its own, however many start at once."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    if job.journal:
        from runner.jobfile.template import compile_value

        return Path(compile_value(job.journal)({"job": job.job_name, "started": stamp,
                                                "run": run_id}))
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in job.job_name)
    return Path(".runner") / "runs" / f"{safe}-{stamp}-{run_id}.jsonl"


def run(
    job: Job,
    *,
    journal: Path | str | None = None,
    resume: Path | str | None = None,
    force: bool = False,
    write_journal: bool = True,
    console: bool = False,
    quiet: bool = False,
    json_stream: TextIO | None = None,
    collect: bool = True,
    handle_signals: bool = True,
    only: Sequence[str] = (),
    order: str = "plan",
) -> RunResult:
    """Run every task of `job` and return how it went; never raises for a task's failure.

    `resume` names the journal of an earlier run to continue (see runner.journal.resume): only
    the tasks it does not record ok run, and their records are appended to it; `force`
    keeps the recorded results of tasks whose spec changed since. `journal` may name the
    same file, or be left out. `only` holds `--only` patterns (see runner.selection): the
    selected tasks and what they need are the run, the rest are not part of it; `order`
    is the console's: `plan` (task order) or `finish` (as tasks end)."""
    from runner.engine.claims import check_fits
    from runner.engine.engine import Engine, EngineOptions
    from runner.journal import logfiles
    from runner.plan import Plan
    from runner.system import fdbudget, oom
    from runner.system.envseal import keyed
    from runner.system.registry import new_run_id

    job = keyed(job)
    plan = Plan(job)
    job = plan.job  # its glob and lines axes read: workers render from the same values
    for notice in plan.notices:
        print(notice, file=sys.stderr, flush=True)
    check_fits(job)
    run_id = new_run_id()
    workers = job.workers or default_workers()
    fdbudget.ensure(job, workers)
    oom.mark()
    journal_path = _journal_path(job, run_id, journal, resume, write_journal)
    logs = logfiles.prepare(job.logs, job.job_name, str(job.folder), run_id)
    total, skip, selection, received = len(plan), frozenset[str](), None, dict[str, str]()
    if only and resume is None:  # refused before a journal is made, if it selects nothing
        selection, total = _select(plan, only, skip)
    sinks: list[Sink] = []
    collector = None
    if collect:  # the CLI's runs collect nothing
        from runner.sinks.collector import Collector

        collector = Collector()
    try:
        if journal_path is not None:
            from runner.sinks.journal import Journal

            writer = Journal(journal_path, fsync=job.journal_fsync)
            writer.env = plan.env_record()
            writer.logs = logs.folder if logs else None
            sinks.append(writer)
            if resume is not None:  # read only now that the lock is held
                total, skip, received = _resume(writer, plan, job, force, logs)
                if only:
                    selection, total = _select(plan, only, skip)
        if console:
            sinks += _display(journal_path, quiet, order)
        if json_stream is not None:
            from runner.sinks.jsonlines import JsonLines

            sinks.append(JsonLines(json_stream))
            if not console:
                from runner.sinks.console import StopNotice

                sinks.append(StopNotice())
        if collector is not None:
            sinks.append(collector)
        from runner.system import guardian, procs, registry

        with registry.register(run_id, job.job_name, journal_path, job.executor, workers), \
                guardian.start(run_id, job.shutdown.grace) as watch, _marked_environment(run_id), \
                _capture_folder(plan, run_id) as capture_folder:
            try:
                engine = Engine(job, plan, total, sinks,
                                EngineOptions(run_id, workers, job.start_method, skip=skip,
                                              only=selection, handle_signals=handle_signals,
                                              capture=capture_folder, logs=logs,
                                              received=received))
                finished = engine.run()
            except BaseException:  # a broken run's workers go before their capture folder
                procs.end_leftovers(run_id, 0.0, spare=watch.pid)
                raise
            _end_leftovers(run_id, job.shutdown.grace, watch.pid)
    except OSError as exc:
        if exc.errno not in (errno.EMFILE, errno.ENFILE):
            raise
        raise RunnerError(f"the runner ran out of file descriptors ({exc.strerror}): "
                          "lower `workers` or raise the limit (ulimit -n)") from None
    finally:
        for sink in sinks:
            sink.close()
    return RunResult(job.job_name, run_id, ExitCode(finished.exit_code), finished.counts,
                     finished.duration, journal_path,
                     finished.interrupted_by, collector.tasks if collector else [],
                     finished.stopped_by)


def _journal_path(job: Job, run_id: str, journal: Path | str | None,
                  resume: Path | str | None, write_journal: bool) -> Path | None:
    """The journal to write, None for none. `--resume J` writes J; a `--journal` naming
    another file is a contradiction, not a preference, so it is refused rather than
    silently overruled."""
    if resume is None:
        if not write_journal:
            return None
        return Path(journal) if journal else default_journal(job, time.time(), run_id)
    from runner.journal import resume as resuming

    target = Path(resume)
    if not write_journal:
        raise UsageError("--resume appends to the journal it resumes; it cannot be combined "
                         "with --no-journal")
    if journal is not None and Path(journal).resolve() != target.resolve():
        raise UsageError(f"--resume {target} and --journal {journal} name different files; "
                         "a resumed run appends to the journal it resumes: drop --journal")
    resuming.require(target)
    return target


def _resume(journal: Journal, plan: Plan, job: Job, force: bool,
            logs: Logs | None) -> tuple[int, frozenset[str], dict[str, str]]:
    """Read the journal, refuse changed specs, kill survivors; say what was done on stderr.
    Returns the number of tasks still to run, the ids to skip and the recorded results
    that feed `as` variables; `logs` learns the attempts recorded, so that numbers go on
    from there."""
    from runner.journal import resume as resuming

    with journal.reading() as stream:
        resumption = resuming.prepare(journal.path, stream, plan, force=force,
                                      grace=job.shutdown.grace)
    journal.resumes = resumption.resumes
    if logs is not None:
        logs.before = resumption.attempts
    for line in resumption.notices(journal.path):
        print(line, file=sys.stderr, flush=True)
    return resumption.remaining, resumption.skip, resumption.results


def _select(plan: Plan, only: Sequence[str],
            skip: frozenset[str]) -> tuple[Selection, int]:
    """The `--only` predicate and the run's total under it (selected tasks not recorded
    ok), said on stderr; a selection of nothing is refused."""
    from runner.selection import Selection

    selection = Selection(plan, only)
    selected, remaining = selection.count(skip)
    selection.require_some(selected)
    ran = f", {remaining} to run" if skip else ""
    print(f"--only: {selected} of {len(plan)} task(s) selected{ran}", file=sys.stderr,
          flush=True)
    return selection, remaining


def _display(journal: Path | None, quiet: bool, order: str = "plan") -> list[Sink]:
    """The console, and above it a live progress bar when a person is watching a terminal
    (never with --quiet: that asks for the summary alone)."""
    from runner.sinks.console import Console

    sinks: list[Sink] = []
    stream = None
    if not quiet and sys.stdout.isatty():
        from runner.sinks.progress import Progress

        bar = Progress()
        sinks.append(bar)  # before the console: the bar stops before the summary prints
        stream = bar.lines
    printer = Console(stream, quiet=quiet, order=order)
    printer.describe_journal(str(journal) if journal else None)
    return [*sinks, printer]


def _end_leftovers(run_id: str, grace: float, guardian: int) -> None:
    """Nothing a run started outlives it: what its tasks left behind is ended now (the
    guardian aside: it ends itself)."""
    from runner.system import procs

    ended = procs.end_leftovers(run_id, min(grace, 2.0), spare=guardian)
    if ended:
        print(f"runner: ended {len(ended)} leftover process(es) of this run: "
              f"{', '.join(map(str, ended))}", file=sys.stderr)


def _capture_folder(plan: Plan, run_id: str) -> contextlib.AbstractContextManager[str | None]:
    """The run's folder of capture files when some entry calls Python (its workers write
    their output there); a job of commands makes none, nor pays for removing one."""
    if not any(entry.call is not None for entry in plan.entries):
        return contextlib.nullcontext()
    from runner.worker import capture

    return capture.run_folder(run_id)


@contextlib.contextmanager
def _marked_environment(run_id: str) -> Iterator[None]:
    """Put the run's marker in this process's environment while the run lasts, so every
    process started from it (spawned workers, the fork server, commands, whatever tasks
    exec) shows the marker in /proc and the guardian can find it after a SIGKILL. Forked
    workers keep the environment block this process started with; the guardian follows
    those through the process tree instead."""
    from runner.system.procs import RUN_MARKER_ENV

    previous = os.environ.get(RUN_MARKER_ENV)
    os.environ[RUN_MARKER_ENV] = run_id
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_MARKER_ENV, None)
        else:
            os.environ[RUN_MARKER_ENV] = previous

