"""The report's tables, and how they reach a terminal: plain columns or rich tables.

The HTML page draws the same tables. Tables are built from the JSON-ready
summary alone, never from the journal, so every rendering shows the same numbers
as `--json`. Cells are plain strings: rich prints them as `Text`, since a task
name is not markup.
"""

from __future__ import annotations

from typing import Any, NamedTuple

FAILURES_SHOWN = 10
WORKERS_SHOWN = 20


def seconds(value: float) -> str:
    if value < 60:
        return f"{value:.2f}s"
    minutes, rest = divmod(value, 60)
    if minutes < 60:
        return f"{int(minutes)}m{rest:04.1f}s"
    return f"{int(minutes // 60)}h{int(minutes % 60):02d}m"


def size(value: int) -> str:
    """Bytes, in the largest binary unit that keeps a digit before the point."""
    for unit, amount in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= amount:
            return f"{value / amount:.1f} {unit}"
    return f"{value} B"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


class Section(NamedTuple):
    """One table of the report; `align` has an "l" or "r" per column."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    align: str


def sections(summary: dict[str, Any]) -> list[Section]:
    """The report's tables, shared by the plain, rich and HTML renderings."""
    numbered = list(enumerate(summary["runs"], 1))
    runs = [[str(i), str(r["run"] or "?"), str(r["job"] or "?"), str(r["executor"] or "?"),
             str(r["mode"] or "?"), str(r["workers"] or "?"), str(sum(r["counts"].values())),
             str(r["counts"]["ok"]), str(r["retries"]),
             str(r["exit_code"]) if r["finished"] else "unfinished"] for i, r in numbered]
    speed = [[str(i), seconds(r["wall"]), seconds(r["task_time"]), f"{r['speedup'] or 0:.2f}x",
              str(r["max_concurrent"]), seconds(r["overlap_seconds"])] for i, r in numbered]
    counts = [[status, str(n)] for status, n in summary["counts"].items()]
    counts.append(["total", str(summary["tasks"])])
    several = len(numbered) > 1  # then a "run" column says which run a row is from
    failures = _numbered([[str(f["run"]), f["task"], str(f["attempt"]), f["status"],
                           f["error_type"], _one_line(f["message"])]
                          for f in summary["failures"][:FAILURES_SHOWN]], several)
    slowest = _numbered([[str(s["run"]), s["task"], str(s["attempt"]), s["status"],
                          seconds(s["duration"]), seconds(s["cpu_time"]), str(s["pid"]), s["host"]]
                         for s in summary["slowest"]], several)
    largest = _numbered([[str(s["run"]), s["task"], str(s["attempt"]), s["status"],
                          size(s["peak_rss"]), seconds(s["cpu_time"]), str(s["pid"])]
                         for s in summary["largest"]], several)
    run = ["run #"] if several else []
    return [
        Section("Runs", ["#", "run", "job", "executor", "mode", "workers", "tasks", "ok",
                         "retries", "exit"], runs, "rllllrrrrl"),
        Section("Wall time vs the sum of task durations", ["#", "wall", "task time", "speedup",
                "max parallel", "2+ at once"], speed, "rrrrrr"),
        Section(_counts_title(len(numbered)), ["status", "tasks"], counts, "lr"),
        Section(f"Failures (first {len(failures)} of {summary['failures_total']})",
                ["#", *run, "task", "attempt", "status", "error", "message"], failures,
                "r" * (1 + several) + "lrlll"),
        Section("Slowest attempts", ["#", *run, "task", "attempt", "status", "duration", "cpu",
                                     "pid", "host"], slowest, "r" * (1 + several) + "lrlrrrl"),
        Section("Most memory (peak_rss: set memory claims from these)",
                ["#", *run, "task", "attempt", "status", "peak", "cpu", "pid"], largest,
                "r" * (1 + several) + "lrlrrr"),
        Section("Workers", ["#", *run, "pid", "host", "process", "attempts", "busy",
                            "utilisation", "cpu", "peak"], _worker_rows(summary, several),
                "r" * (1 + several) + "rllrrrrr"),
        Section(_entries_title(len(numbered)), ["entry", "tasks", "ok", "not ok", "attempts",
                "task time"], _entry_rows(summary), "lrrrrr"),
    ]


def _numbered(rows: list[list[str]], keep_run: bool, start: int = 1) -> list[list[str]]:
    """Rows numbered 1, 2, 3 ...; their first cell, the run's number, is kept only when
    the journal holds several runs (it would say 1 on every row otherwise)."""
    return [[str(i), *(row if keep_run else row[1:])] for i, row in enumerate(rows, start)]


def _counts_title(runs: int) -> str:
    if runs < 2:
        return "Tasks by final status"
    return f"Tasks by latest status (each task once, across {runs} runs)"


def _entries_title(runs: int) -> str:
    if runs < 2:
        return "Tasks by entry"
    return f"Tasks by entry (final attempts of each of {runs} runs)"


def _entry_rows(summary: dict[str, Any]) -> list[list[str]]:
    """A row per entry of the job file, when there are several to tell apart."""
    entries = summary.get("entries", [])
    if len(entries) < 2:
        return []
    return [[e["entry"], str(e["tasks"]), str(e["counts"].get("ok", 0)),
             str(e["tasks"] - e["counts"].get("ok", 0)), str(e["attempts"]),
             seconds(e["task_time"])] for e in entries]


def finished_tasks(run: dict[str, Any]) -> str:
    """What one run recorded: the tasks it ended, and how many of them ended ok."""
    return f"{sum(run['counts'].values())} task(s) ended here, {run['counts']['ok']} ok"


def _worker_rows(summary: dict[str, Any], several: bool) -> list[list[str]]:
    rows: list[list[str]] = []
    for number, run in enumerate(summary["runs"], 1):
        usage = run["worker_usage"]
        rows += _numbered([[str(number), str(w["pid"] or ""), w["host"], w["process_name"],
                            str(w["attempts"]), seconds(w["busy"]), _percent(w["utilisation"]),
                            seconds(w["cpu_time"]), size(w["peak_rss"])]
                           for w in usage[:WORKERS_SHOWN]], several, start=len(rows) + 1)
        if len(usage) > WORKERS_SHOWN:
            rows.append(["", *([str(number)] if several else []), "", "",
                         f"... {len(usage) - WORKERS_SHOWN} more", "", "", "", "", ""])
    return rows


def _one_line(text: str, width: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def plain(tables: list[Section]) -> str:
    """Aligned columns, no colour or box drawing: what pipes, CI logs and `grep` want."""
    out = []
    for table in tables:
        if not table.rows:
            continue
        widths = [max(map(len, column)) for column in zip(table.headers, *table.rows)]
        out.append(table.title)
        for row in [table.headers, *table.rows]:
            cells = [cell.rjust(width) if how == "r" else cell.ljust(width)
                     for cell, width, how in zip(row, widths, table.align)]
            out.append("  " + "  ".join(cells).rstrip())
        out.append("")
    return "\n".join(out)


def print_rich(tables: list[Section]) -> None:
    """Tables for a terminal; rich is imported only when there is one to print to."""
    from rich.box import SIMPLE_HEAD
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    for table in tables:
        if not table.rows:
            continue
        shown = Table(title=table.title, title_justify="left", title_style="bold", box=SIMPLE_HEAD)
        for header, how in zip(table.headers, table.align):  # numbers are never cut short
            shown.add_column(header, justify="right" if how == "r" else "left", no_wrap=how == "r",
                             overflow="fold", min_width=None if how == "r" else len(header))
        for row in table.rows:
            shown.add_row(*(Text(cell) for cell in row))  # Text: a task name is not markup
        console.print(shown)
