"""The `runner` command: a thin typer layer over `runner.load`, `runner.run` and friends.

Each command imports what it needs when it runs, so `runner --help` and
`runner validate` never pay for multiprocessing, psutil or the engine. Every
error the user can act on is a `RunnerError`; `main()` turns it into a message
on stderr and the exit code the README promises, in one place.

No `from __future__ import annotations`: typer reads the commands' signatures on every
start, and would evaluate each annotation from its string twice over.
"""

import gc

gc.disable()  # until the job is loaded: see _started_up()

import contextlib  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from enum import Enum  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Optional  # noqa: E402

import typer  # noqa: E402

from runner.cli.named import ROOT_HELP, named_command  # noqa: E402
from runner.errors import ExitCode, RunnerError, UsageError  # noqa: E402
from runner.version import __version__  # noqa: E402

app = typer.Typer(
    name="runner",
    help="Run the tasks of a YAML job file on processes, pools or a Dask cluster.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": list(ROOT_HELP)},
)


class Format(str, Enum):
    text = "text"
    json = "json"
    github = "github"


class ModeChoice(str, Enum):
    sync = "sync"
    async_ = "async"


class Order(str, Enum):
    plan = "plan"
    finish = "finish"


class ExecutorChoice(str, Enum):
    process = "process"
    pool = "pool"
    mp_pool = "mp-pool"
    dask = "dask"


_debug = False
"""Set by `--debug`: an internal error prints its traceback instead of filing it."""


def _set_debug(value: bool) -> None:
    global _debug
    _debug = _debug or value


_DEBUG_HELP = "On an internal error (a bug), print its traceback instead of writing it to a file."


def _version(value: bool) -> None:
    if value:
        typer.echo(f"runner {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", callback=_set_debug, is_eager=True,
                                        help=_DEBUG_HELP)] = False,
) -> None:
    """Run the tasks of a YAML job file on processes, pools or a Dask cluster."""


def ascii_int(text: str) -> int:
    """An integer option: ASCII digits only (`int()` also reads "١" and "１" as 1)."""
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise typer.BadParameter(f"expected a whole number in ASCII digits, got {text!r}")
    return int(text)


@app.command()
def run(
    job_file: Annotated[Path, typer.Argument(metavar="JOB.yml", help="The job file.")],
    workers: Annotated[Optional[int], typer.Option(  # noqa: UP045
        metavar="N", parser=ascii_int, help="Processes at once.")] = None,
    mode: Annotated[Optional[ModeChoice], typer.Option(  # noqa: UP045
        help="sync or async submission.")] = None,
    executor: Annotated[Optional[ExecutorChoice], typer.Option(  # noqa: UP045
        help="Where tasks run.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--set", metavar="KEY=VALUE",
        help="Override a field, e.g. --set shutdown.grace=5s.")] = None,
    journal: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        help="Where to write the journal; by default .runner/runs/<job>-<UTC time>-<run "
        "id>.jsonl, one per run. A journal that holds runs already gets this one appended. "
        "It must be a regular file (not a link, FIFO or device).")] = None,
    resume: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        metavar="JOURNAL", help="Run only the tasks JOURNAL does not record ok, appending "
        "to it; any process the earlier run left is killed first. At-least-once: a task "
        "that was running when that run died runs again.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="With --resume: keep the recorded results of tasks whose spec "
        "changed since, instead of refusing.")] = False,
    no_journal: Annotated[bool, typer.Option("--no-journal", help="Write no journal.")] = False,
    only: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--only", metavar="PATTERN", help="Run only the tasks whose rendered name matches "
        "the glob (case-sensitive), or whose entry has the tag (tag:NAME), and what they "
        "need; repeat it for more.")] = None,
    order: Annotated[Order, typer.Option(
        help="Console lines in task order (plan) or as tasks end (finish).")] = Order.plan,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan; run nothing.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="JSON Lines results on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
    debug: Annotated[bool, typer.Option("--debug", callback=_set_debug, is_eager=True,
                                        help=_DEBUG_HELP)] = False,
) -> None:
    """Run a job: every task, on the executor the file names (or --executor)."""
    from runner.jobfile.loader import load

    overrides = list(set_ or [])
    if workers is not None:
        overrides.append(f"workers={workers}")
    if mode is not None:
        overrides.append(f"mode={mode.value}")
    if executor is not None:
        overrides.append(f"executor={executor.value}")
    job = load(job_file, overrides=overrides)
    _started_up()
    if dry_run:
        from runner.cli.dryrun import print_plan

        print_plan(job, json_, only or [])
        return
    if force and resume is None:
        raise UsageError("--force only makes sense with --resume")
    from runner.api import run as run_job
    from runner.system.procs import become_subreaper

    # A journal write past a file-size limit must fail with EFBIG and stop the run with
    # exit 3, not kill the runner with SIGXFSZ mid-line. CPython ignores SIGXFSZ at start-up
    # already; saying so here keeps that true under an embedding interpreter that does not.
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    become_subreaper()
    result = run_job(job, journal=journal, resume=resume, force=force,
                     write_journal=not no_journal, console=not json_, quiet=quiet,
                     json_stream=sys.stdout if json_ else None, collect=False,
                     only=only or [], order=order.value)
    raise typer.Exit(int(result.exit_code))


@app.command()
def validate(
    job_files: Annotated[list[Path], typer.Argument(metavar="JOB.yml...", help="Job files.")],
    format_: Annotated[Format, typer.Option("--format", help="text, json or github "
                                            "(workflow annotations).")] = Format.text,
    check_imports: Annotated[bool, typer.Option(
        "--check-imports", help="Also import every `call:` target (runs module code).")] = False,
) -> None:
    """Check job files without running them; every problem as file:line:col: path: message."""
    from runner.jobfile.validate import validate_files

    raise typer.Exit(validate_files(job_files, format_.value, check_imports))


@app.command()
def schema(
    output: Annotated[Optional[Path], typer.Option(help="Write it here instead of stdout.")] = None,  # noqa: UP045
    check: Annotated[bool, typer.Option("--check", help="Fail if OUTPUT is not current.")] = False,
) -> None:
    """Print (or write, or check) the JSON Schema of job files, for editors and CI."""
    from runner.jobfile.validate import job_schema_text

    text = job_schema_text()
    if check:
        target = output or Path("schemas/job.schema.json")
        current = target.read_text() if target.exists() else ""
        if current != text:
            typer.echo(f"{target} is out of date; run: runner schema --output {target}", err=True)
            raise typer.Exit(int(ExitCode.TASK_FAILED))
        typer.echo(f"{target} is current")
    elif output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        typer.echo(f"wrote {output}")
    else:
        typer.echo(text, nl=False)


class GraphFormat(str, Enum):
    mermaid = "mermaid"
    dot = "dot"


@app.command()
def graph(
    job_file: Annotated[Path, typer.Argument(metavar="JOB.yml", help="The job file.")],
    format_: Annotated[GraphFormat, typer.Option(
        "--format", help="mermaid (a flowchart GitHub renders) or dot (Graphviz).")
    ] = GraphFormat.mermaid,
) -> None:
    """Print the job's entries and what each needs, as a Mermaid flowchart or Graphviz dot."""
    from runner.jobfile.graph import FORMATS
    from runner.jobfile.loader import load

    job = load(job_file)
    _started_up()
    typer.echo(FORMATS[format_.value](job), nl=False)


@app.command()
def ps(
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List live runs and their process trees (PID, PPID, name, task, CPU, memory)."""
    from runner.cli.ps import ps_command

    raise typer.Exit(ps_command(as_json=json_))


@app.command()
def kill(
    target: Annotated[str, typer.Argument(
        metavar="RUN_OR_PID", help="A run id (or a unique prefix of one), or the PID of any "
        "process of the run.")],
    now: Annotated[bool, typer.Option(
        "--now", help="Stop the running tasks at once (SIGKILL), as a second SIGTERM "
        "does.")] = False,
    grace: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Stop the running tasks at once with the job's stop signal, SIGKILL after "
        "this long.")] = None,
) -> None:
    """Stop a run as SIGTERM to its runner does (the job's shutdown policy), and wait for
    it; only a run whose runner is gone has its processes killed directly."""
    from runner.cli.kill import kill_command

    if now and grace is not None:
        raise UsageError("--now and --grace contradict each other: --now kills at once")
    raise typer.Exit(kill_command(target, now, None if grace is None
                                  else _duration("--grace", grace)))


def _duration(option: str, text: str) -> float:
    from runner.jobfile.values import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option} {text}: {exc}") from None


@app.command()
def report(
    journal: Annotated[Path, typer.Argument(metavar="JOURNAL", help="A run's journal.")],
    html: Annotated[Optional[Path], typer.Option(help="Also write a timeline page here.")] = None,  # noqa: UP045
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Summarise a journal: counts, failures, slowest tasks, per-worker use, a timeline."""
    from runner.report.digest import report_command

    _started_up()
    raise typer.Exit(report_command(journal, html=html, as_json=json_))


class ResultsFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    json = "json"


@app.command()
def results(
    journal: Annotated[Path, typer.Argument(metavar="JOURNAL", help="A run's journal.")],
    format_: Annotated[ResultsFormat, typer.Option(
        "--format", help="csv (results as JSON text), jsonl, or json (one array).")
    ] = ResultsFormat.csv,
    status: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--status", metavar="S", help="Only tasks that ended so (repeat it, or S1,S2).")] = None,
) -> None:
    """One row per task, its final attempt (the latest across resumed runs): task, name,
    one column per foreach axis, status, result, exit_code, attempts, duration, pid,
    host, peak_rss (bytes), cpu_time (seconds). Tasks never handed out are not rows."""
    from runner.report.results import results_command

    _started_up()
    raise typer.Exit(results_command(journal, format_.value, status or []))


@app.command()
def logs(
    journal: Annotated[Path, typer.Argument(metavar="JOURNAL", help="A run's journal.")],
    task: Annotated[str, typer.Argument(metavar="TASK", help="A task's name or id.")],
    attempt: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--attempt", metavar="N", parser=ascii_int,
        help="This attempt (default: the latest).")] = None,
) -> None:
    """Print what a task wrote: its whole stdout and stderr when the run kept them
    (`logs:`), else the tails the journal holds, under its status, PID and attempt."""
    from runner.report.logs import logs_command

    _started_up()
    raise typer.Exit(logs_command(journal, task, attempt))


def _started_up() -> None:
    """Start-up builds the job file's models: thousands of objects, none of them garbage,
    which the collector would walk several times over (a third of `runner validate`'s own
    time). So it stays off until the job is loaded; then everything alive is frozen out
    of its sight for good (forked workers share those pages, too) and it resumes.
    Commands that read journals turn it on before they start reading."""
    gc.freeze()
    gc.enable()


def main() -> None:
    """Console entry point: typer handles usage errors (exit 2) and --help; every
    `RunnerError` becomes its message on stderr and its exit code, with no traceback;
    anything else is a bug, said in one line (see runner.cli.crash), exit 3."""
    try:
        named_command(app, sys.argv[1:])()
    except RunnerError as exc:
        typer.echo(str(exc), err=True)
        _leave(int(exc.exit_code))
    except SystemExit as exc:
        _leave(exc.code)
    except Exception as exc:
        from runner.cli import crash

        crash.report(exc, debug=_debug)
        _leave(int(ExitCode.RUNNER_FAILED))


EXIT_HANDLERS_WAIT = 10.0
"""How long the exit handlers may take before the runner exits without them."""


def _bound_exit_handlers(code: int) -> None:
    """multiprocessing's exit handler waits for every pool worker still alive, without a
    timeout. A run ends its own workers, so one alive here was left by a run that failed
    half-way (a pool that could not start them all, say): it is killed (which needs no
    descriptor, so this works even when the failure was running out of them), and if
    the handlers still take too long the runner exits without them."""
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None:
        return
    import os
    import threading

    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError):
            child.kill()
    deadline = threading.Timer(EXIT_HANDLERS_WAIT, os._exit, (code,))
    deadline.daemon = True
    deadline.start()


def _leave(code: object) -> None:
    """Exit without tearing the interpreter down: every command has closed what it opened
    by now, and unloading the modules a run needs costs a CLI tens of milliseconds for
    nothing. The exit handlers (multiprocessing's, which release what its pools hold)
    still run first, for a bounded time."""
    import atexit
    import os

    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    _flush()  # in case the exit handlers run out of time
    _bound_exit_handlers(code or 0)
    atexit._run_exitfuncs()
    _flush()
    os._exit(code or 0)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
