"""The harness's output: one Markdown table per workload, the same as JSON, and the machine.

Numbers without the machine they ran on cannot be compared, so the JSON always
carries the CPU, the core count, the Python and the start method next to the
tables. A row keeps every sample, not only the median, so a reader can see
the spread behind a ratio.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One approach in a workload table; `ratio`/`target`/`passed` stay None where
    there is nothing to compare, and `note` says why a row is empty (a skip, a failure)."""

    approach: str
    samples: list[float] = field(default_factory=list)
    ratio: float | None = None
    target: str | None = None
    passed: bool | None = None
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


@dataclass
class Table:
    """A workload's result: its rows and a sentence saying what the ratio column means."""

    title: str
    unit: str
    ratio_means: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ok(self) -> bool:
        """True when every row measured what it claims (a skipped baseline is fine)."""
        return not any(row.note.startswith("FAILED") for row in self.rows)


def verdict(row: Row, value: float | None, limit: float, strict: bool = False) -> None:
    """Judge `value` against an upper `limit` (`<` if strict, else `≤`); no value, no verdict."""
    row.target = f"{'<' if strict else '≤'} {limit:g}"
    if value is not None:
        row.passed = value < limit if strict else value <= limit


def check(row: Row, ratio: float | None, limit: float) -> None:
    """Fill a row's ratio and judge it against `limit`."""
    row.ratio = ratio
    verdict(row, ratio, limit)


def markdown(table: Table) -> str:
    """The table as GitHub Markdown, with its notes under it."""
    lines = [f"### {table.title}", "", f"ratio = {table.ratio_means}", "",
             f"| approach | median ({table.unit}) | ratio | target | result |",
             "|---|---:|---:|---|---|"]
    lines += [_markdown_row(row, table.unit) for row in table.rows]
    lines += [""] + [f"- {note}" for note in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def _markdown_row(row: Row, unit: str) -> str:
    median = "—" if row.median is None else _number(row.median, unit)
    ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
    result = {True: "PASS", False: "FAIL", None: ""}[row.passed]
    if row.note:
        result = f"{result} ({row.note})" if result else row.note
    cells = [row.approach, median, ratio, row.target or "", result]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _number(value: float, unit: str) -> str:
    """Milliseconds matter in seconds (start-up is ~0.1 s); tenths of a MB are plenty."""
    return f"{value:.3f}" if unit == "s" and value < 10 else f"{value:.1f}"


def machine() -> dict[str, Any]:
    """What the numbers depend on: CPU, cores usable by this process, Python, start method."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "start_method": multiprocessing.get_context().get_start_method(),
    }


def _cpu_model() -> str:
    """`platform.processor()` is empty on most Linux systems; /proc/cpuinfo is not."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def write_json(path: Path, tables: dict[str, Table], settings: dict[str, Any]) -> None:
    """Everything printed, plus every sample, the machine, the settings and the commit
    measured, as one JSON file."""
    payload = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": machine(),
        "settings": settings,
        "workloads": {name: _table_json(table) for name, table in tables.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def _commit() -> str | None:
    """The runner commit measured (with `+dirty` if the work tree has changes), if in git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=30, check=True).stdout.strip()

    try:
        return git("rev-parse", "HEAD") + ("+dirty" if git("status", "--porcelain") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _table_json(table: Table) -> dict[str, Any]:
    rows = [{**asdict(row), "median": row.median} for row in table.rows]
    return {"title": table.title, "unit": table.unit, "ratio_means": table.ratio_means,
            "rows": rows, "notes": table.notes}
