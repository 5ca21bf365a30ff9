"""`runner ps`: every live run with its process tree, and stragglers of dead runs.

Live runs come from the registry, their processes from the process table, and
what each process is running from the tail of the run's journal, so `ps` costs
the same on a million-line journal as on a short one. A record whose
runner is gone and whose marked processes are all gone too is removed here.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from runner.journal import reader
from runner.system import procs
from runner.system.registry import RunRecord, forget, runs

JOURNAL_TAIL_BYTES = 1 << 20
CPU_SAMPLE_SECONDS = 0.1


@dataclass(frozen=True)
class ProcessRow:
    pid: int
    ppid: int
    depth: int
    name: str
    status: str
    cpu_percent: float
    rss: int
    task: str | None


def ps_command(as_json: bool) -> int:
    """Print every live run with its process tree, and stragglers of runs whose runner died."""
    marked = procs.by_marker()
    listed: list[tuple[RunRecord, bool, list[psutil.Process], list[psutil.Process]]] = []
    for record, runner in runs():
        members = procs.tree(runner) if runner is not None else []
        inside = {p.pid for p in members}
        stragglers = [p for p in marked.get(record.run_id, []) if p.pid not in inside]
        if runner is None and not stragglers:
            forget(record)
            continue
        listed.append((record, runner is not None, members, stragglers))
    _prime_cpu([p for _, _, members, strays in listed for p in (*members, *strays)])
    described = [_describe(record, alive, members, stragglers)
                 for record, alive, members, stragglers in listed]
    if as_json:
        print(json.dumps({"runs": described}, indent=2))
    else:
        _print_runs(described)
    return 0


def _prime_cpu(processes: list[psutil.Process]) -> None:
    """CPU use needs two readings: take the first for all at once, then wait once."""
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.cpu_percent(None)
    if processes:
        time.sleep(CPU_SAMPLE_SECONDS)


def _describe(record: RunRecord, alive: bool, members: list[psutil.Process],
              stragglers: list[psutil.Process]) -> dict[str, Any]:
    tasks = journal_tasks(Path(record.journal)) if record.journal else {}
    tasks[record.pid] = "(runner)"
    return {**asdict(record), "alive": alive,
            "processes": [asdict(row) for row in _rows(_preorder(members), tasks)],
            "stragglers": [asdict(row) for row in _rows([(p, 0) for p in stragglers], tasks)]}


def _preorder(members: list[psutil.Process]) -> list[tuple[psutil.Process, int]]:
    """Deepest-first tree members back in display order (parent, then its children), with depth."""
    if not members:
        return []
    root, pids = members[-1], {p.pid for p in members}
    children: dict[int, list[psutil.Process]] = {}
    for process in members[:-1]:
        with contextlib.suppress(psutil.Error):
            parent = process.ppid()
            children.setdefault(parent if parent in pids else root.pid, []).append(process)
    ordered: list[tuple[psutil.Process, int]] = []
    pending = [(root, 0)]
    while pending:
        process, depth = pending.pop()
        ordered.append((process, depth))
        below = sorted(children.get(process.pid, []), key=lambda p: p.pid, reverse=True)
        pending.extend((child, depth + 1) for child in below)
    return ordered


def _rows(entries: list[tuple[psutil.Process, int]], tasks: dict[int, str]) -> list[ProcessRow]:
    rows = []
    for process, depth in entries:
        with contextlib.suppress(psutil.Error), process.oneshot():
            rows.append(ProcessRow(process.pid, process.ppid(), depth, process.name(),
                                   process.status(), process.cpu_percent(None),
                                   process.memory_info().rss, tasks.get(process.pid)
                                   or role(process)))
    return rows


def role(process: psutil.Process) -> str | None:
    """What a process of the runner's own is there for, if it is one."""
    with contextlib.suppress(psutil.Error):
        cmdline = " ".join(process.cmdline())
        if "runner.system.guardian" in cmdline:
            return "(guardian)"
        if "multiprocessing" in cmdline:
            return "(multiprocessing)"
    return None


def journal_tasks(journal: Path) -> dict[int, str]:
    """PID -> name of the task it is running, from the journal's last MiB.

    A `task_finished` for the same PID and task means that process is idle now."""
    try:
        lines = reader.tail(journal, JOURNAL_TAIL_BYTES)
    except OSError:
        return {}
    running: dict[int, tuple[str, str]] = {}
    for line in lines:
        if b'"task_' not in line:
            continue
        with contextlib.suppress(ValueError, KeyError, TypeError):
            event = json.loads(line)
            pid, task = int(event["pid"]), str(event["task"])
            if event["event"] == "task_started":
                running[pid] = (task, str(event.get("name", task)))
            elif event["event"] == "task_finished" and running.get(pid, ("",))[0] == task:
                del running[pid]
    return {pid: name for pid, (_, name) in running.items()}


def _print_runs(runs: list[dict[str, Any]]) -> None:
    if not runs:
        print("no live runs")
        return
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started"]))
        state = f"runner pid {run['pid']}" if run["alive"] else f"runner {run['pid']} is gone"
        print(f"run {run['run_id']}  job {run['job']}  {run['executor']} x{run['workers']}  "
              f"started {started}  {state}")
        print(f"  journal: {run['journal'] or '(none)'}")
        _print_table(run["processes"])
        if run["stragglers"]:
            print("  stragglers (still carrying this run's marker):")
            _print_table(run["stragglers"])
        print()


def _print_table(rows: list[dict[str, Any]]) -> None:
    print(f"  {'PID':>7} {'PPID':>7}  {'STATUS':<9} {'CPU%':>5} {'RSS':>7}  NAME / TASK")
    for row in rows:
        indent = "  " * row["depth"]
        task = f"  [{row['task']}]" if row["task"] else ""
        print(f"  {row['pid']:>7} {row['ppid']:>7}  {row['status']:<9} "
              f"{row['cpu_percent']:>5.1f} {_size(row['rss']):>7}  {indent}{row['name']}{task}")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return str(count)
