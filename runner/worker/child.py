"""What every worker process runs (pool, mp-pool, process), never the runner: set the
worker up, run its attempts, report an `Outcome` for each.

A worker must never let a task break it: every exception (SystemExit and
KeyboardInterrupt included) becomes an `Outcome` with the traceback as text;
the result is encoded to JSON here, so an unpicklable or exotic result fails
its own task instead of the pool. Before each task the worker publishes
"task `key` started at t" in its slot of a shared array; the runner reads
the slots to enforce timeouts and to know which task a dead worker was
running, without a message per task. A watchdog thread ends the worker and
its task's process tree when the runner disappears, whatever the start method
made the worker's parent.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from runner.events import Outcome, TaskStatus
from runner.journal import format
from runner.system import procs
from runner.worker import calling, capture, meter
from runner.worker.work import Work, WorkerSetup

SLOT_FIELDS = 6
SLOT_PID, SLOT_KEY, SLOT_STARTED, SLOT_TERMINATED, SLOT_GENERATION, SLOT_BASE = range(SLOT_FIELDS)
SLOT_IDLE = -1.0
"""A row's key field while its worker runs no attempt."""
WATCHDOG_INTERVAL = 0.25


CLAIM_ROUND = 0.2
"""Seconds between two checks for signals while waiting for the slot table's lock."""
EXIT_NO_CAPTURE = 75
"""A worker's exit code when it could not set up its output capture (EX_TEMPFAIL)."""


class State:
    """Per-process state set by `setup`; module-level because pools call plain functions."""

    slot: int = -1
    slots: Any = None
    pid: int = 0
    host: str = ""
    tasks_run: int = 0
    max_tasks: int | None = None
    closed_flag: int = -1
    where: str = ""  # the journal's pid, ppid, process name and host, formatted once
    ppid: int = 0  # as `where` has it: asked once, not a system call per attempt
    name: str = ""
    job: Any = None
    plan: Any = None
    rows: bool = False  # spans send a row per ok task (see runner.engine.spans.rows_wanted)
    capture: str | None = None  # the run's capture folder, removed here if the runner dies
    adopted: tuple[str, str | None] | None = None  # (run id, folder), by `adopt`


def setup(config: WorkerSetup) -> None:
    """Initializer of every worker process (pool workers and `process` children alike)."""
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, _on_terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    adopt(config.run_id, config.folder)
    State.max_tasks = config.max_tasks
    State.job = config.job
    State.rows = config.rows
    if config.slots is not None:
        _claim_slot(config.slots, config.slots_lock, config.generation)
        meter.publish(config.slots, State.slot + SLOT_BASE)
        if config.capture is not None:
            _redirect_or_leave(config.capture, row_name(State.slot))
    State.capture = config.capture
    watchdog = threading.Thread(
        target=_watch_runner, args=(config.runner_pid, config.runner_created),
        name="runner-watchdog", daemon=True)
    with _stop_signals_blocked():  # the thread is born with them blocked, and keeps them so
        watchdog.start()


def _redirect_or_leave(folder: str, name: str) -> None:
    """A worker that cannot capture its tasks' output (no descriptor left, no space) must
    not run them: their output would reach the runner's own. It says so in one line and
    ends; the runner sees a worker that died before taking any attempt. A folder already
    gone means the run is over: nothing to say."""
    try:
        capture.redirect(folder, name)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            os.write(2, f"runner worker {os.getpid()}: cannot capture output in {folder}: "
                        f"{exc.strerror}\n".encode())
        os._exit(EXIT_NO_CAPTURE)


def adopt(run_id: str, folder: str | None) -> None:
    """Ready a process the runner does not own (a dask worker) to `run_one` a run's
    attempts: what `setup` does, minus signal handlers, setpgid, slots and the watchdog,
    since that process's owner runs its life. Idempotent; a long-lived process may hold
    an older run's functions, so a new run or folder drops the cached callables."""
    if folder is not None and folder not in sys.path:
        sys.path.insert(0, folder)
    os.environ[procs.RUN_MARKER_ENV] = run_id
    # run_one compares os.getpid() with State.pid to catch a task's forked child.
    State.pid, State.host = os.getpid(), socket.gethostname()
    if State.adopted != (run_id, folder):
        calling.forget_callables()
        State.adopted = (run_id, folder)


def _claim_slot(slots: Any, lock: Any, generation: int) -> None:
    """Take a free row. A dead worker's row that still names an attempt is evidence the
    runner has not read yet (which attempt that worker died running), so it is left alone.
    The lock is waited for in short rounds, so that a signal is acted on even while a
    worker killed holding it keeps it taken for good."""
    while not lock.acquire(timeout=CLAIM_ROUND):
        pass
    try:
        for index in range((len(slots) - 1) // SLOT_FIELDS):
            base = index * SLOT_FIELDS
            owner = int(slots[base + SLOT_PID])
            unreported = slots[base + SLOT_KEY] != SLOT_IDLE
            if owner == 0 or (not unreported and not _pid_exists(owner)):
                slots[base + SLOT_KEY] = SLOT_IDLE
                slots[base + SLOT_TERMINATED] = 0.0
                slots[base + SLOT_GENERATION] = float(generation)
                slots[base + SLOT_PID] = float(State.pid)
                State.slot, State.slots = base, slots
                State.closed_flag = len(slots) - 1
                return
    finally:
        lock.release()
    raise RuntimeError("no free row in the runner's slot table: a worker without one "
                       "could not be timed out, so it refuses to start")


def row_name(base: int) -> str:
    """The name of the capture files of the worker in the slot row starting at `base`."""
    return f"row-{base // SLOT_FIELDS}"


def attempt_name(key: int) -> str:
    """The name of the capture files of a process that runs one attempt."""
    return f"attempt-{key}"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _on_terminate(signum: int, frame: object) -> None:
    """SIGTERM (a stop, or the pool tearing itself down): take the task's tree along."""
    if State.slots is not None:
        State.slots[State.slot + SLOT_TERMINATED] = time.monotonic()
    capture.flush()  # what the task printed is kept for the runner to read
    _signal_descendants(signum)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _signal_descendants(signum: int) -> None:
    with contextlib.suppress(Exception):
        import psutil

        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.send_signal(signum)


def _watch_runner(pid: int, created: float) -> None:
    """The portable fallback to the parent-death signal (which only Linux has).

    The thread never takes SIGTERM or SIGINT (see `_stop_signals_blocked`)."""
    while True:
        time.sleep(WATCHDOG_INTERVAL)
        if not _runner_alive(pid, created):
            _signal_descendants(signal.SIGKILL)
            if State.capture is not None:  # no one else is left to remove it
                capture.remove_folder(State.capture)
            os._exit(70)


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """SIGTERM and SIGINT held back from this thread while the block runs; a thread started
    inside inherits the mask for good. The kernel hands a process's signal to any thread
    that accepts it, and one taken by a helper thread does not interrupt the main thread
    blocked on a pool's lock: the worker would never stop. Held signals arrive at the end."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _runner_alive(pid: int, created: float) -> bool:
    runner = procs.same_process(pid, created)
    return runner is not None and bool(procs.alive([runner]))


def run_batch(batch: Sequence[tuple[Any, ...]]) -> list[Outcome]:
    """Pool entry point: run several attempts in turn, one outcome each.

    Attempts travel as plain tuples of Work's fields: the runner pickles every one
    of them, and a plain tuple pickles several times faster than a named one.
    A worker that has reached `max_tasks`, or whose runner has closed the slot
    table (a stop that cancels pending work), runs nothing more and returns
    fewer outcomes than it was given; the engine decides about the rest."""
    outcomes = []
    slots = State.slots
    for fields in batch:
        work = Work._make(fields)
        if State.max_tasks is not None and State.tasks_run >= State.max_tasks:
            break
        if slots is not None and slots[State.closed_flag]:
            break
        State.tasks_run += 1
        outcomes.append(run_one(work))
    return outcomes


def run_one(work: Work) -> Outcome:
    """Run one attempt; never raises."""
    slots, base = State.slots, State.slot
    started = time.time()
    if started >= meter.fresh_until:  # else the last attempt's end is this one's start
        meter.start(started)
    if slots is not None:
        slots[base + SLOT_STARTED] = started
        slots[base + SLOT_KEY] = float(work.key)
    status, result, exit_code, error = TaskStatus.OK, None, None, None
    kinds: tuple[str, ...] = ()
    saved = lent = kept = None
    try:
        lent = capture.lend()
        if work.logs is not None:
            kept = capture.keep(work.logs)
        saved = calling.enter(work)
        value = calling.resolve(work.call)(*work.args, **work.kwargs)
        result = calling.encode_result(value)
    except SystemExit as exc:
        exit_code = calling.exit_code_of(exc.code)
        if exit_code:
            status, error, kinds = TaskStatus.FAILED, calling.error_of(exc), calling.kinds_of(exc)
    except BaseException as exc:  # a task's failure is a value, KeyboardInterrupt included
        status, error, kinds = TaskStatus.FAILED, calling.error_of(exc), calling.kinds_of(exc)
    finally:
        if os.getpid() != State.pid:
            os._exit(0)  # a task forked and its child came back here: it must not go on
        if saved is not None:
            calling.leave(saved)
        calling.end_leftovers()
        out, err = capture.take() if kept is None else capture.release(kept)
        capture.give_back(lent)
        if slots is not None:
            slots[base + SLOT_KEY] = SLOT_IDLE
    if not State.where:
        State.name = multiprocessing.current_process().name
        State.ppid = os.getppid()
        State.where = format.where(State.pid, State.ppid, State.name, State.host)
    finished = time.time()
    peak_rss, cpu_time = meter.stop(started, finished)
    return Outcome(work.key, status, started, finished, State.pid, State.ppid, State.name,
                   State.host, result, exit_code, error, out, err,
                   format.made(State.where, started, finished, result, exit_code, error, out,
                               err, peak_rss, cpu_time), peak_rss, cpu_time, kinds)


def process_main(config: WorkerSetup, work: Work, connection: Any) -> None:
    """`process` executor entry point: one process, one attempt, then exit."""
    if config.capture is not None:
        capture.redirect(config.capture, attempt_name(work.key))
    setup(config)
    outcome = meter.whole_process(run_one(work))
    try:
        connection.send(outcome)
    finally:
        connection.close()

