"""Live runs on this machine, for `runner ps` and `runner kill`.

Flow: api.run -> **registry** (one small JSON file per live run) <- ps / kill.

A run writes `<state dir>/runs/<run id>.json` before its engine starts and
removes it after. A record is trusted only while its runner is alive, which
means PID *and* create time match: a PID recycled by an unrelated process is
never mistaken for a runner, let alone killed. A record whose runner is gone
(SIGKILL, power loss) is removed by the next `ps` or `kill` once no process
carrying its run marker is left; until then those processes are shown as
stragglers and `runner kill RUN` can still reach them. What each process is
running comes from the tail of the run's journal, so `ps` costs the same on a
million-line journal as on a short one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from runner import procs

JOURNAL_TAIL_BYTES = 1 << 20
CPU_SAMPLE_SECONDS = 0.1
UNKNOWN_TARGET = 2
FOLLOW_SECONDS = 0.05
KILL_WAIT_SECONDS = 5.0


def state_dir() -> Path:
    """`$RUNNER_STATE_DIR`, else `$XDG_RUNTIME_DIR/runner`, else `~/.local/state/runner`."""
    explicit = os.environ.get("RUNNER_STATE_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "runner"
    return Path.home() / ".local" / "state" / "runner"


def runs_dir() -> Path:
    return state_dir() / "runs"


@dataclass(frozen=True)
class RunRecord:
    """What a live run says about itself; the JSON file holds exactly these fields."""

    run_id: str
    pid: int
    created: float
    job: str
    journal: str | None
    started: float
    executor: str
    workers: int

    def runner(self) -> psutil.Process | None:
        """The runner process if it is still the one that wrote this record."""
        return procs.same_process(self.pid, self.created)


class Registration:
    """A run's entry in the registry; removing it twice, or after a failed write, is fine."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def remove(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.path = None

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def register(run_id: str, job: str, journal: Path | str | None, executor: str,
             workers: int) -> Registration:
    """Record this process as the runner of `run_id`.

    The registry only helps `ps` and `kill`: a state directory that cannot be
    written warns and lets the run go ahead unregistered."""
    me = psutil.Process()
    record = RunRecord(run_id, me.pid, me.create_time(), job,
                       str(Path(journal).absolute()) if journal is not None else None,
                       time.time(), executor, workers)
    folder = runs_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{run_id}.json"
        _write_atomically(path, json.dumps(asdict(record)))
    except OSError as exc:
        import warnings

        warnings.warn(f"run {run_id} is not registered ({exc}); `runner ps` will not list it",
                      RuntimeWarning, stacklevel=2)
        return Registration(None)
    return Registration(path)


def _write_atomically(path: Path, text: str) -> None:
    """Write then rename, so a reader never sees half a record."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def records() -> list[RunRecord]:
    """Every readable record, live or not, oldest first."""
    found = []
    for path in sorted(runs_dir().glob("*.json")):
        with contextlib.suppress(OSError, ValueError, TypeError):
            found.append(RunRecord(**json.loads(path.read_text())))
    return sorted(found, key=lambda r: r.started)


def _forget(record: RunRecord) -> None:
    with contextlib.suppress(OSError):
        (runs_dir() / f"{record.run_id}.json").unlink()


# -- runner ps -------------------------------------------------------------------


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
    for record in records():
        runner = record.runner()
        members = procs.tree(runner) if runner is not None else []
        inside = {p.pid for p in members}
        stragglers = [p for p in marked.get(record.run_id, []) if p.pid not in inside]
        if runner is None and not stragglers:
            _forget(record)
            continue
        listed.append((record, runner is not None, members, stragglers))
    _prime_cpu([p for _, _, members, strays in listed for p in (*members, *strays)])
    runs = [_describe(record, alive, members, stragglers)
            for record, alive, members, stragglers in listed]
    if as_json:
        print(json.dumps({"runs": runs}, indent=2))
    else:
        _print_runs(runs)
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
                                   or _infrastructure(process)))
    return rows


def _infrastructure(process: psutil.Process) -> str | None:
    with contextlib.suppress(psutil.Error):
        cmdline = " ".join(process.cmdline())
        if "runner.guardian" in cmdline:
            return "(guardian)"
        if "multiprocessing" in cmdline:
            return "(multiprocessing)"
    return None


def journal_tasks(journal: Path) -> dict[int, str]:
    """PID -> name of the task it is running, from the journal's last MiB.

    A `task_finished` for the same PID and task means that process is idle now."""
    try:
        with journal.open("rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            stream.seek(max(0, size - JOURNAL_TAIL_BYTES))
            tail = stream.read(JOURNAL_TAIL_BYTES)
    except OSError:
        return {}
    lines = tail.splitlines()
    if size > JOURNAL_TAIL_BYTES:
        lines = lines[1:]  # the first line is cut in the middle
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


# -- runner kill -----------------------------------------------------------------


def kill_command(target: str, grace: float) -> int:
    """Stop a run (runner, descendants, marker stragglers) or one PID's tree: SIGTERM
    deepest first, SIGKILL after `grace`; 0 if all is gone, 1 if not, 2 for an unknown target."""
    chosen = _resolve(target)
    if isinstance(chosen, str):
        print(chosen, file=sys.stderr)
        return UNKNOWN_TARGET
    record, roots = chosen
    tasks = journal_tasks(Path(record.journal)) if record and record.journal else {}
    labels: dict[int, str] = {}
    survivors = _stop(roots, grace, labels)
    if record is not None:  # anything of the run's that escaped the tree meanwhile
        survivors += _stop(procs.marked(record.run_id), 0.0, labels)
    if record is not None and not survivors:
        _forget(record)
    if not labels:
        print(f"nothing left to kill for {target}: its runner and processes are gone")
    lost = {p.pid for p in survivors}
    for pid, label in labels.items():
        if pid not in lost:
            print(f"killed {pid} {label}" + (f" [{tasks[pid]}]" if pid in tasks else ""))
    for process in survivors:
        print(f"survived {process.pid} {labels.get(process.pid, '')}: it may belong to "
              "another user or be stuck in the kernel (state D)", file=sys.stderr)
    return 1 if survivors else 0


def _stop(roots: list[psutil.Process], grace: float,
          labels: dict[int, str]) -> list[psutil.Process]:
    """SIGTERM the trees deepest first and keep signalling what they start meanwhile (a
    runner rebuilds its pool when a worker dies before it has seen its own SIGTERM);
    SIGKILL whatever is left after `grace`. `labels` collects what was signalled, and
    processes already in it are left alone. Returns what even SIGKILL did not end."""
    deadline = time.monotonic() + grace
    ours: dict[int, psutil.Process] = {}
    living = roots
    while True:
        fresh = [p for p in _others(procs.forest(living)) if p.pid not in labels]
        _remember(fresh, ours, labels)
        procs.send(fresh, signal.SIGTERM)
        living = procs.alive(ours.values())
        if not living or time.monotonic() >= deadline:
            break
        time.sleep(FOLLOW_SECONDS)
    if not living:
        return []
    last = _others(procs.freeze(living))
    _remember([p for p in last if p.pid not in labels], ours, labels)
    return procs.kill_all(last, signal.SIGKILL, KILL_WAIT_SECONDS)


def _remember(processes: list[psutil.Process], ours: dict[int, psutil.Process],
              labels: dict[int, str]) -> None:
    """Note each process and its name now: once it is dead, its name cannot be read."""
    for process in processes:
        ours[process.pid] = process
        labels[process.pid] = _label(process)


def _resolve(target: str) -> tuple[RunRecord | None, list[psutil.Process]] | str:
    """What `target` names, in this order: a run id, the PID of a live runner, any other
    live PID, a unique prefix of a run id. Otherwise a message saying why not."""
    known = records()
    number = int(target) if target.isdigit() else None
    exact = [r for r in known if r.run_id == target
             or (r.pid == number and r.runner() is not None)]
    if exact:
        return _run_roots(exact[0])
    if number is not None:
        with contextlib.suppress(psutil.Error):
            return None, [psutil.Process(number)]
    matches = [r for r in known if target and r.run_id.startswith(target)]
    if len(matches) == 1:
        return _run_roots(matches[0])
    if len(matches) > 1:
        names = ", ".join(r.run_id for r in matches)
        return f"runner kill: {target!r} matches several runs ({names}); give more of the id"
    return (f"runner kill: no live run or process {target!r}; "
            "`runner ps` lists the runs and their PIDs")


def _run_roots(record: RunRecord) -> tuple[RunRecord, list[psutil.Process]]:
    runner = record.runner()
    return record, [*([runner] if runner else []), *procs.marked(record.run_id)]


def _others(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Never this process, even when `runner kill` runs inside the run it stops."""
    return [p for p in processes if p.pid != os.getpid()]


def _label(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        role = _infrastructure(process)
        return f"{process.name()} {role}" if role else process.name()
    return ""
