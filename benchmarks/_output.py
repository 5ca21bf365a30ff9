"""The default path: what printing every task costs, piped to a file and on a terminal.

The same 100,000 trivial callables as the callables workload, alternated: the default
console with stdout redirected to a file (as in CI) against `--quiet`, and the default
console on a pseudo-terminal (`script`), where the live progress bar is drawn above the
task lines, against `--quiet` on the same. Each run's journal is verified, and what it
printed must hold the summary and, unless quiet, one line per task.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from _journal import squared_in_worker
from _measure import Approach, BenchError, Command, Outcome, alternate, succeeded
from _report import Table, check
from _workloads import CALL_TASK, Context, _checked_journal, _ratio, _runner_timed, _write_job

QUIET = "runner run --quiet (the summary only)"
PIPED = "runner run, default console, stdout to a file"
QUIET_TERMINAL = "runner run --quiet on a terminal (script)"
TERMINAL = "runner run, default console and progress bar, on a terminal (script)"
LIMIT = 1.25


def _console_run(ctx: Context, name: str, job: Path, count: int, terminal: bool,
                 quiet: bool = False) -> Approach:
    """`runner run JOB --journal TMP` printing every task (or, `quiet`, the summary): to a
    file, or to a pty."""
    tag = f"{int(terminal)}{int(quiet)}"

    def journal(round_: int) -> Path:
        return ctx.work / f"console-{tag}-{round_}.jsonl"

    def printed(round_: int) -> Path:
        return ctx.work / f"printed-{tag}-{round_}.txt"

    def command(round_: int) -> Command:
        run = f"{ctx.runner} run {job} --journal {journal(round_)}{' --quiet' * quiet}"
        if terminal:  # script gives the runner a terminal; its own copy goes to the file
            return Command(["script", "-qfec", run, str(printed(round_))])
        return Command(["sh", "-c", f"exec {run} > {printed(round_)}"])

    def score(outcome: Outcome, round_: int) -> float:
        succeeded(outcome)
        _checked_journal(journal(round_), count, squared_in_worker)
        text = printed(round_).read_text(encoding="utf-8", errors="replace")
        printed(round_).unlink()
        lines = text.count("✓ ok ")
        if lines < (0 if quiet else count) or f"{count} task(s): {count} ok" not in text:
            raise BenchError(f"printed {lines:,} task lines of {count:,}")
        return outcome.seconds

    return Approach(name, command, score,
                    "" if not terminal or shutil.which("script") else "no `script` (util-linux)")


def output(ctx: Context) -> Table:
    """Printing every task against printing nothing per task: the same run otherwise."""
    n = ctx.settings.callables
    job = _write_job(ctx, "output", CALL_TASK, n)
    approaches = [_runner_timed(ctx, QUIET, job, n, squared_in_worker),
                  _console_run(ctx, PIPED, job, n, terminal=False),
                  _console_run(ctx, QUIET_TERMINAL, job, n, terminal=True, quiet=True),
                  _console_run(ctx, TERMINAL, job, n, terminal=True)]
    rows = alternate(approaches, ctx.settings.rounds, ctx.work, ctx.settings.timeout)
    for name, quiet in ((PIPED, QUIET), (TERMINAL, QUIET_TERMINAL)):
        check(rows[name], _ratio(rows[name].median, rows[quiet].median), LIMIT)
    return Table(f"default output: {n:,} tasks f(i) = i*i, every one printed", "s",
                 "this ÷ the same with --quiet", list(rows.values()),
                 [f"medians of {ctx.settings.rounds} round(s), alternated; every run's "
                  "journal verified, and every task's line found in what it printed"])
