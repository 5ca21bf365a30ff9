"""What `executor: dask` runs on a dask worker: one attempt per task, never raising; its
`Outcome` goes back to runner.executors.dask through dask.

Dask workers are processes the runner does not own, maybe serving other clients,
so a run's first task in a process adopts it (`child.adopt`: sys.path, the run
marker, no signal handlers or watchdog) and opens its marker file. Each task
announces itself on the run's event topic, then writes its key to that file,
named after the worker's pid, where it outlives the process: after a crash the
dead worker's nanny reads it back (`read_marker`) to say which attempt killed
it. A call runs through `child.run_one`, as in the pool; a command as
runner.executors.commands runs it, in its own session with its output in
temporary files (its log files with `logs:`). Several short calls travel as one batch
(runner.worker.dask_batch). `signal_tree`, `close_run` and `forget` are run next to the
workers too, on the runner's request.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, BinaryIO, NamedTuple

from runner.errors import LogsError
from runner.events import ErrorInfo, Outcome, TaskStatus, amend, command_status, spawn_error
from runner.journal import logfiles
from runner.system import procs, usage
from runner.worker import child as worker
from runner.worker.child import run_one
from runner.worker.results import read_capped, with_result
from runner.worker.tails import read_tail
from runner.worker.work import CommandWork, Work, command_argv

MARKER_IDLE = -1
"""What a marker file holds while its worker runs no attempt."""


class DaskRun(NamedTuple):
    """What each task carries to its worker: the run, its event topic, where its modules are."""

    run_id: str
    topic: str
    folder: str | None  # put on sys.path; None when the job's modules were uploaded


class _Process:
    """This worker process's part in the current run (tasks are plain functions)."""

    run_id: str | None = None
    host: str = ""
    marker: BinaryIO | None = None
    closed: str | None = None  # the run that said to start nothing more of its batches


def execute(work: Work | CommandWork, run: DaskRun) -> Outcome:
    """One attempt on a dask worker: announced, marked in the pid file; never raises."""
    from distributed import get_worker

    here = get_worker()
    adopt_run(run)
    mark(work.key)
    try:
        if isinstance(work, CommandWork):
            return _run_command(work, run, here)
        refusal = threads_refusal(here)
        if refusal is not None:
            return failed(work.key, refusal)
        announce(here, run, work.key, os.getpid(), os.getppid(), process_name(), time.time())
        return run_one(work)
    finally:
        mark(MARKER_IDLE)


def threads_refusal(here: Any) -> ErrorInfo | None:
    """Why a worker with several threads must not run calls; None if it has one."""
    if here.state.nthreads <= 1:
        return None
    return ErrorInfo("WorkerHasThreads", (
        f"dask worker {here.address} runs {here.state.nthreads} threads, but a call changes "
        "its process's cwd, environment and stdout: start workers with "
        "`dask worker --nthreads 1` (and --nworkers N for more processes)"))


def process_name() -> str:
    return multiprocessing.current_process().name


def adopt_run(run: DaskRun) -> None:
    """On a run's first task in this process: adopt it for the run, open its marker file."""
    if _Process.run_id == run.run_id:
        return
    worker.adopt(run.run_id, run.folder)
    _Process.host = socket.gethostname()
    if _Process.marker is not None:
        _Process.marker.close()
    path = _marker_path(run.run_id, os.getpid())
    try:
        path.parent.mkdir(exist_ok=True)
        _Process.marker = open(path, "wb", buffering=0)  # noqa: SIM115 (for the process's life)
    except OSError:
        _Process.marker = None  # then a death is blamed on every task lost with it
    _Process.run_id = run.run_id


def _marker_path(run_id: str, pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"runner-dask-{run_id}" / str(pid)


def mark(key: int) -> None:
    """Write the running attempt's key (or MARKER_IDLE) where it outlives this process."""
    if _Process.marker is not None:
        _Process.marker.seek(0)
        _Process.marker.write(b"%20d" % key)


def read_marker(run_id: str, pid: int) -> int | None:
    """Runs in a dead worker's nanny: what that worker was running; None if unknown."""
    try:
        return int(_marker_path(run_id, pid).read_bytes())
    except (OSError, ValueError):
        return None


def close_run(run_id: str) -> None:
    """Runs in each worker (on its event loop, beside the running task): the run starts
    nothing more of the batches this process holds (see `closed`)."""
    _Process.closed = run_id


def closed(run_id: str) -> bool:
    """Whether the run said to start nothing more (a stop that cancels pending work)."""
    return _Process.closed == run_id


def forget(run_id: str) -> None:
    """At shutdown, on each worker's host: drop the run's marker files."""
    if _Process.run_id == run_id and _Process.marker is not None:
        _Process.marker.close()
        _Process.marker, _Process.run_id = None, None
    if _Process.closed == run_id:
        _Process.closed = None
    remove_markers(run_id)


def remove_markers(run_id: str) -> None:
    """Drop the run's marker files on this host (at shutdown, or by the guardian)."""
    shutil.rmtree(_marker_path(run_id, 0).parent, ignore_errors=True)


def announce(here: Any, run: DaskRun, key: int, pid: int, ppid: int, name: str,
              started: float, task: str | None = None) -> None:
    """Say on the run's topic that attempt `key` runs, where and since when, in which dask
    task (the current one unless given: only the task's own thread knows it)."""
    task = str(here.get_current_task()) if task is None else task
    here.log_event(run.topic, [key, pid, ppid, name, _Process.host, started, here.address,
                               here.nanny, task])


def _run_command(work: CommandWork, run: DaskRun, here: Any) -> Outcome:
    """As `commands.py` runs a command from the runner: own session, stdin from /dev/null,
    the same exit-code mapping. Output goes to temporary files whose tails are kept, so
    memory stays flat and a leftover holding a pipe cannot hold the task."""
    argv, name = command_argv(work.command)
    started = time.time()
    try:
        out, err = _outputs(work)
    except LogsError as exc:
        return failed(work.key, ErrorInfo("LogsError", str(exc)), 0, os.getpid(), "")
    with out, err:
        try:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                     cwd=work.cwd, env={**os.environ, **work.env},
                                     start_new_session=True)
        except OSError as exc:
            code, why = spawn_error(argv[0], exc, f" on {_Process.host}")
            return amend(failed(work.key, why, 0, os.getpid(), ""), exit_code=code)
        announce(here, run, work.key, popen.pid, os.getpid(), name, started)
        child = procs.Child(popen.pid, popen)
        code = child.wait()
        procs.killpg(popen.pid, signal.SIGKILL)  # a task ends with its processes
        stdout, stderr = _tail(out), _tail(err)
        whole = read_capped(out) if work.result is not None else b""
    status, error = command_status(code, popen.pid, name)
    peak_rss, cpu_time = usage.reaped(child.usage)
    return with_result(Outcome(work.key, status, started, time.time(), popen.pid, os.getpid(),
                               name, _Process.host, exit_code=code, error=error, stdout=stdout,
                               stderr=stderr, peak_rss=peak_rss, cpu_time=cpu_time),
                       work.result, whole)


def _outputs(work: CommandWork) -> tuple[IO[bytes], IO[bytes]]:
    """Two temporary files, or with `logs:` the attempt's log files (the logs folder must
    then be at the same path on the workers as on the runner: a shared file system)."""
    if work.logs is None:
        return tempfile.TemporaryFile(), tempfile.TemporaryFile()
    out, err = logfiles.open_pair(work.logs)
    return os.fdopen(out, "wb"), os.fdopen(err, "wb")


def _tail(file: IO[bytes]) -> str:
    return read_tail(file.fileno(), file.seek(0, os.SEEK_END))


def failed(key: int, error: ErrorInfo, pid: int | None = None, ppid: int | None = None,
           name: str | None = None) -> Outcome:
    """An attempt that failed on its worker before it could run (by default, in this
    worker process)."""
    now = time.time()
    return Outcome(key, TaskStatus.FAILED, now, now, os.getpid() if pid is None else pid,
                   os.getppid() if ppid is None else ppid,
                   process_name() if name is None else name,
                   _Process.host or socket.gethostname(), error=error)


def signal_tree(pid: int, signum: int, group: bool) -> None:
    """Runs next to the attempt (in its worker's nanny, else in the worker itself): signal
    its process tree deepest first, and a command's whole session."""
    members = procs.tree(pid)
    if group:
        procs.killpg(pid, signum)
    if pid == os.getpid():  # no nanny: the worker ends itself once this call has replied
        members = members[:-1]
        threading.Timer(0.2, os.kill, (pid, signum)).start()
    procs.send(members, signum)

