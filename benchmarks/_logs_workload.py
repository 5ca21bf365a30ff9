"""The `logs` workload: what keeping every attempt's whole output costs.

The same commands, each printing 1 MiB, run with and without `logs:`,
alternated round by round under the RSS hook, so each sample carries the
runner's own peak RSS as well as its wall time. Without `logs:` the runner reads
every byte through the commands' pipes and keeps tails; with it the commands
write their log files themselves. A round with `logs:` counts only once every
task's stdout file holds exactly 1 MiB; its folder is then deleted.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

from _journal import exited_zero, verify_journal
from _measure import Approach, BenchError, Command, Outcome, alternate, succeeded
from _report import Row, Table, check, verdict
from _workloads import RSS_HOOK, WORKERS, Context

MIB = 1 << 20
PRINT_MIB = f'    command: ["head", "-c", "{MIB}", "/dev/zero"]\n'
WITHOUT = "runner run, commands printing 1 MiB each (tails only)"
WITH = "the same with logs: (every byte kept)"
RSS_GROWTH_MB = 10.0
"""How much more the runner's own peak RSS may be with `logs:`: it must stay flat."""


def _job(ctx: Context, name: str, count: int, logs: Path | None) -> Path:
    path = ctx.work / f"{name}.yml"
    kept = f"logs: {logs}\n" if logs else ""
    path.write_text(f"version: 1\nname: {name}\nworkers: {WORKERS}\n{kept}tasks:\n"
                    f"  - name: {name}\n{PRINT_MIB}"
                    f"    foreach:\n      i: {{range: [0, {count}]}}\n")
    return path


def _approach(ctx: Context, name: str, count: int, logs: Path | None,
              rss: list[float]) -> Approach:
    job = _job(ctx, name.split()[0] if logs is None else "logs-kept", count, logs)
    rss_file, journal = ctx.work / f"{job.stem}.rss", ctx.work / f"{job.stem}.jsonl"
    argv = [ctx.python, "-c", RSS_HOOK, str(rss_file), "run", str(job), "--quiet",
            "--journal", str(journal)]

    def score(outcome: Outcome, round_: int) -> float:
        succeeded(outcome)
        try:
            verify_journal(journal, count, exited_zero)
        finally:
            journal.unlink(missing_ok=True)
        if logs is not None:
            _check_kept(logs, count)
        if not rss_file.exists():
            raise BenchError("the RSS hook wrote nothing")
        rss.append(int(rss_file.read_text()) * 1024 / 1e6)
        return outcome.seconds

    return Approach(name, lambda _: Command(argv), score)


def _check_kept(logs: Path, count: int) -> None:
    """Every task's stdout file holds its whole MiB; then the round's files go."""
    try:
        outs = list(logs.glob("*/*.out"))
        if len(outs) != count or any(p.stat().st_size != MIB for p in outs):
            raise BenchError(f"{logs}: expected {count} stdout files of {MIB} bytes")
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def _disk_floor(ctx: Context, count: int, to_files: bool) -> Approach:
    """The same bytes written by `xargs -P2` and a shell, to a pipe read by `cat` or to
    files: what the disk alone adds, whoever writes."""
    folder = ctx.work / "floor-files"
    target = f"> {folder}/$0.out" if to_files else "| cat > /dev/null"
    lines = ctx.work / "floor-lines.txt"
    lines.write_text("".join(f"{i}\n" for i in range(count)))
    argv = ["xargs", "-P2", "-n1", "sh", "-c", f"head -c {MIB} /dev/zero {target}"]

    def score(outcome: Outcome, round_: int) -> float:
        succeeded(outcome)
        if to_files:
            _check_kept_flat(folder, count)
            folder.mkdir()
        return outcome.seconds

    folder.mkdir(exist_ok=True)
    name = f"floor: xargs -P2 sh -c 'head -c 1MiB {'> FILE' if to_files else '| cat'}'"
    return Approach(name, lambda _: Command(argv, stdin=lines), score)


def _check_kept_flat(folder: Path, count: int) -> None:
    try:
        outs = list(folder.glob("*.out"))
        if len(outs) != count or any(p.stat().st_size != MIB for p in outs):
            raise BenchError(f"{folder}: expected {count} files of {MIB} bytes")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def logs(ctx: Context) -> Table:
    """Commands printing 1 MiB each, with and without `logs:`; target: within 1.3x, and
    the runner's own peak RSS flat."""
    count = ctx.settings.commands
    rss: dict[str, list[float]] = {WITHOUT: [], WITH: []}
    floors = [_disk_floor(ctx, count, False), _disk_floor(ctx, count, True)]
    approaches = [_approach(ctx, WITHOUT, count, None, rss[WITHOUT]),
                  _approach(ctx, WITH, count, ctx.work / "kept-logs", rss[WITH]), *floors]
    rows = alternate(approaches, ctx.settings.rounds, ctx.work, ctx.settings.timeout)
    plain, kept = rows[WITHOUT].median, rows[WITH].median
    check(rows[WITH], kept / plain if kept and plain else None, 1.3)
    piped, filed = rows[floors[0].name].median, rows[floors[1].name].median
    rows[floors[1].name].ratio = filed / piped if filed and piped else None
    peaks = {name: statistics.median(values) if values else None
             for name, values in rss.items()}
    growth = Row("runner's peak RSS with logs: minus without (MB)")
    if peaks[WITH] is not None and peaks[WITHOUT] is not None:
        growth.samples = [peaks[WITH] - peaks[WITHOUT]]
    verdict(growth, growth.median, RSS_GROWTH_MB)
    shown = ", ".join(f"{'with' if n == WITH else 'without'} {p:.1f} MB"
                      for n, p in peaks.items() if p is not None)
    return Table(f"logs: {count:,} commands × 1 MiB of output, {WORKERS} at once", "s",
                 "with logs ÷ without; for the floor, to files ÷ to a pipe",
                 [*rows.values(), growth],
                 [f"medians of {ctx.settings.rounds} round(s), alternated; every journal "
                  "verified, every kept stdout file checked to hold 1 MiB",
                  f"runner's own peak RSS (VmHWM at exit), median: {shown}"])
