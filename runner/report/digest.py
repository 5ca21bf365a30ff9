"""`runner report JOURNAL`: what a run did, read back from its journal.

The journal is read into a Digest (`read`), summarised here, and shown as a
table (`text`), as `--json`, or as a page (`html`). One summary dict feeds the
table, the JSON and the page, so they never disagree. Each task is counted once,
by its latest attempt, however many runs the journal holds; each run also has
its own counts, attempts and timing.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runner.errors import RunnerError
from runner.report.read import STATUSES, Attempt, Digest, Run, read_journal
from runner.report.text import plain, print_rich, sections


def summarise(digest: Digest, journal: Path) -> dict[str, Any]:
    """The whole report as one JSON-ready dict: what --json prints and the others render."""
    bars = digest.bars_by_run()
    runs = [_run_summary(run, bars[run.index]) for run in digest.runs]
    counts = _task_counts(digest, runs)
    wall, task_time = sum(r["wall"] for r in runs), sum(r["task_time"] for r in runs)
    return {
        "journal": str(journal), "runs": runs,
        "counts": {status: counts[status] for status in STATUSES},
        "tasks": sum(counts.values()), "attempts": sum(r["attempts"] for r in runs),
        "retries": sum(r["retries"] for r in runs), "wall": round(wall, 6),
        "task_time": round(task_time, 6), "speedup": _ratio(task_time, wall),
        "failures_total": digest.failures_total,
        "failures": [failure.as_dict() for failure in digest.failures],
        "slowest": [attempt.as_dict() for attempt in digest.slowest()],
        "entries": digest.entries.summary(),
        "largest": [attempt.as_dict() for attempt in digest.largest()],
        "timeline": {"attempts_drawn": len(digest.bars), "attempts_not_drawn": digest.bars_dropped},
        "ignored": {"torn_bytes": digest.torn_bytes, "skipped_lines": digest.skipped,
                    "first_skipped_line": digest.first_skipped or None},
    }


def _task_counts(digest: Digest, runs: list[dict[str, Any]]) -> Counter[str]:
    """Each task once, by its latest final attempt. Tasks a run never handed out have no
    id, so only the last run's are added: they are what is still left undone."""
    if digest.latest is None:
        return Counter(runs[0]["counts"] if runs else {})
    counts = Counter(digest.latest)
    counts["cancelled"] += runs[-1]["cancelled_unjournaled"]
    return counts


def _run_summary(run: Run, bars: list[Attempt]) -> dict[str, Any]:
    counts = {status: run.counts[status] for status in STATUSES}
    end = run.end or {}
    # Tasks a stopped run never handed out are counted by job_finished, not journaled one by one.
    said = end["counts"].get("cancelled") if isinstance(end.get("counts"), dict) else None
    unjournaled = max(said - counts["cancelled"], 0) if isinstance(said, int) else 0
    counts["cancelled"] += unjournaled
    wall = run.wall()
    peak, overlap = concurrency(bars)
    return {
        **run.meta, "started": datetime.fromtimestamp(run.start, timezone.utc).isoformat(),
        "finished": run.end is not None, "exit_code": end.get("exit_code"),
        "interrupted_by": end.get("interrupted_by"), "counts": counts,
        "cancelled_unjournaled": unjournaled, "attempts": run.attempts, "retries": run.retries,
        "wall": round(wall, 6), "task_time": round(run.task_time, 6),
        "speedup": _ratio(run.task_time, wall), "max_concurrent": peak,
        "overlap_seconds": overlap, "worker_usage": _workers(run, wall),
    }


def _workers(run: Run, wall: float) -> list[dict[str, Any]]:
    entries = [(host, pid, worker) for (host, pid), worker in run.workers.items()]
    if run.others.attempts:
        entries.append(("", 0, run.others))
    return [{"host": host, "pid": pid, "process_name": worker.process_name,
             "attempts": worker.attempts, "busy": round(worker.busy, 6),
             "utilisation": _ratio(worker.busy, wall), "cpu_time": round(worker.cpu_time, 6),
             "peak_rss": worker.peak_rss} for host, pid, worker in entries]


def concurrency(bars: Iterable[Attempt]) -> tuple[int, float]:
    """The most attempts running at once, and for how long two or more ran together.

    Worker clocks are used (`started`, `finished`), so the answer is what the
    processes did, not when the runner heard about it; touching bars do not overlap."""
    edges = sorted(edge for bar in bars if bar.finished > bar.started
                   for edge in ((bar.started, 1), (bar.finished, -1)))
    running = peak = 0
    overlap = previous = 0.0
    for moment, step in edges:
        if running >= 2:
            overlap += moment - previous
        running += step
        peak = max(peak, running)
        previous = moment
    return peak, round(overlap, 6)


def _ratio(part: float, whole: float) -> float | None:
    """None, not a division error, for a run that took no time (all cancelled)."""
    return round(part / whole, 4) if whole > 0 else None


def _warn(digest: Digest, journal: Path) -> None:
    """On stderr, so `--json` stays one object and nothing ignored goes unmentioned."""
    if digest.torn_bytes:
        print(f"{journal}: ignored a torn last line ({digest.torn_bytes} bytes without a newline; "
              "its writer was killed mid-write)", file=sys.stderr)
    if digest.skipped:
        print(f"{journal}: skipped {digest.skipped} line(s) that are not journal events "
              f"(the first is line {digest.first_skipped})", file=sys.stderr)


def report_command(journal: Path, *, html: Path | None, as_json: bool) -> int:
    """`runner report`: the summary on stdout (a table, or JSON), optionally a page."""
    digest = read_journal(journal)
    _warn(digest, journal)
    summary = summarise(digest, journal)
    if html is not None:
        from runner.report.html import render

        try:
            html.write_text(render(summary, digest), encoding="utf-8")
        except OSError as exc:
            raise RunnerError(f"cannot write the page {html}: {exc.strerror or exc}") from None
        print(f"wrote {html}", file=sys.stderr)
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    elif sys.stdout.isatty():
        print_rich(sections(summary))
    else:
        sys.stdout.write(plain(sections(summary)))
    return 0
