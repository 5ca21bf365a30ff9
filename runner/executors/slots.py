"""Which worker runs which attempt since when, and how each worker ended.

Pools hide their workers. Two public hooks give them back without touching
private fields: the `mp_context` / `context` argument accepts a context whose
`Process` class records every process it starts (so its exit code can be read
after it dies, under forkserver too), and the worker initializer claims a slot
in a shared array where the worker publishes its PID and the attempt it is
running. From these the engine enforces timeouts and attributes a crash to the
one attempt that caused it, with what that attempt wrote before it died: each row's
worker keeps its output in capture files named after the row, which a new worker
replaces only once the row is free.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context as mpc
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from typing import Any

from runner.executors.base import Culprit, Running
from runner.worker import capture
from runner.worker.child import (
    SLOT_BASE,
    SLOT_FIELDS,
    SLOT_GENERATION,
    SLOT_IDLE,
    SLOT_KEY,
    SLOT_PID,
    SLOT_STARTED,
    SLOT_TERMINATED,
    row_name,
)

started_processes: dict[tuple[int, int], BaseProcess] = {}
"""Every worker process started through a tracked context, by (generation, PID), until its
executor forgets it. The generation is part of the key because PIDs are reused: a new
pool's worker may get the PID of a worker of the pool it replaces."""

_starting = [0]
"""The generation whose workers are being started now (pools start them on submit)."""


def starting_generation(generation: int) -> None:
    _starting[0] = generation


def _remember(process: BaseProcess) -> None:
    if process.pid is not None:
        started_processes[(_starting[0], process.pid)] = process


class ForkProcess(mpc.ForkProcess):  # type: ignore[misc,name-defined,unused-ignore]
    def start(self) -> None:
        super().start()
        _remember(self)


class SpawnProcess(mpc.SpawnProcess):  # type: ignore[misc,name-defined,unused-ignore]
    def start(self) -> None:
        super().start()
        _remember(self)


class ForkServerProcess(mpc.ForkServerProcess):  # type: ignore[misc,name-defined,unused-ignore]
    def start(self) -> None:
        super().start()
        _remember(self)


class TrackedForkContext(mpc.ForkContext):  # type: ignore[misc,name-defined,unused-ignore]
    Process = ForkProcess


class TrackedSpawnContext(mpc.SpawnContext):  # type: ignore[misc,name-defined,unused-ignore]
    Process = SpawnProcess


class TrackedForkServerContext(mpc.ForkServerContext):  # type: ignore[misc,name-defined,unused-ignore]
    Process = ForkServerProcess


_CONTEXTS: dict[str, type[Any]] = {
    "fork": TrackedForkContext,
    "spawn": TrackedSpawnContext,
    "forkserver": TrackedForkServerContext,
}


def resolve_start_method(requested: str) -> str:
    """`auto` is whatever this Python uses by default on this platform."""
    if requested == "auto":
        return multiprocessing.get_start_method(allow_none=False)
    return requested


def tracked_context(start_method: str) -> Any:
    return _CONTEXTS[resolve_start_method(start_method)]()


def exit_code(generation: int, pid: int) -> int | None:
    """A dead worker's exit code. The pool's own thread may be reaping it at this very
    moment (then our `waitpid` sees no child for a moment), so look a few times. Now and
    then (about one broken pool in five under `pool`, with Python 3.11) the status has
    been collected somewhere this process never sees, and it is None: the attempt is
    still reported crashed, without the signal's name."""
    process = started_processes.get((generation, pid))
    if process is None:
        return None
    for _ in range(20):
        status = _exit_status(process)
        if status is not None:
            return status
        if isinstance(process, mpc.ForkServerProcess):
            time.sleep(0.05)  # joining it would read the fork server's pipe: see _exit_status
        else:
            process.join(timeout=0.05)
    return _exit_status(process)


def _exit_status(process: BaseProcess) -> int | None:
    """The status multiprocessing has for the process. Under forkserver, only once the
    pool's own thread has read it: the status comes once, on a pipe from the fork server,
    and of two readers one gets it and the other end of file, which multiprocessing then
    records, for both, as exit code 255."""
    if isinstance(process, mpc.ForkServerProcess):
        popen = getattr(process, "_popen", None)
        return None if popen is None else popen.returncode
    return process.exitcode


def ended(generation: int, pid: int) -> bool:
    """Whether a worker has exited (a zombie has), without waiting for it."""
    process = started_processes.get((generation, pid))
    if process is not None and _exit_status(process) is not None:
        return True
    try:
        import psutil

        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


ENDING_SECONDS = 1.0
"""How long a broken generation's workers are given to end before it is judged."""


def _started_in(generation: int) -> set[int]:
    """Every worker started for a generation, with a row or without one."""
    return {pid for started, pid in list(started_processes) if started == generation}


def _wait_ended(generation: int, pids: set[int]) -> None:
    deadline = time.monotonic() + ENDING_SECONDS
    while pids and time.monotonic() < deadline:
        pids = {pid for pid in pids if not ended(generation, pid)}
        if pids:
            time.sleep(0.01)


def _died_otherwise(generation: int, pids: set[int]) -> bool:
    """Whether any of these workers is known to have ended other than by a SIGTERM."""
    return any(ended(generation, pid)
               and exit_code(generation, pid) not in (None, -signal.SIGTERM) for pid in pids)


def process_name(generation: int, pid: int) -> str:
    process = started_processes.get((generation, pid))
    return process.name if process is not None else ""


class SlotTable:
    """The shared array workers publish into: one row per worker process; `capture` is
    the run's folder of their capture files, named after the rows."""

    def __init__(self, context: Any, workers: int, capture_folder: str) -> None:
        self.rows = 4 * workers + 8
        self.array = context.RawArray("d", self.rows * SLOT_FIELDS + 1)
        self.lock = context.Lock()
        self.host = socket.gethostname()
        self._parents: dict[int, int] = {}
        self.capture = capture_folder

    def close(self) -> None:
        """Tell every worker to start nothing more (the last element is the flag)."""
        self.array[self.rows * SLOT_FIELDS] = 1.0

    def _rows(self, generation: int) -> list[list[float]]:
        values = self.array[: self.rows * SLOT_FIELDS]
        rows = [values[i:i + SLOT_FIELDS] for i in range(0, len(values), SLOT_FIELDS)]
        return [r for r in rows if r[SLOT_PID] and int(r[SLOT_GENERATION]) == generation]

    def pids(self, generation: int) -> list[int]:
        return [int(r[SLOT_PID]) for r in self._rows(generation)]

    def running(self, generation: int) -> list[Running]:
        found = []
        for row in self._rows(generation):
            if row[SLOT_KEY] != SLOT_IDLE:
                pid = int(row[SLOT_PID])
                found.append(Running(int(row[SLOT_KEY]), pid, self._parent(pid),
                                     process_name(generation, pid), self.host, row[SLOT_STARTED],
                                     int(row[SLOT_BASE])))
        return found

    def pid_running(self, key: int, generation: int) -> int | None:
        for row in self._rows(generation):
            if int(row[SLOT_KEY]) == key:
                return int(row[SLOT_PID])
        return None

    def _parent(self, pid: int) -> int:
        if pid not in self._parents:
            try:
                import psutil

                self._parents[pid] = psutil.Process(pid).ppid()
            except Exception:
                self._parents[pid] = os.getpid()
        return self._parents[pid]

    def culprits(self, generation: int) -> list[Culprit]:
        """The workers whose death broke a generation's pool, judged once its workers have
        ended (the pool stops all of them: one that died first may still be exiting when
        the pool's futures fail): those that died other than by a SIGTERM, which each
        worker marks in its row as it goes. Failing that, the first to receive one (a task
        that signalled itself), unless a worker that never took a row died otherwise: it
        broke the pool before running anything, and the attempts stopped with it are not
        to blame."""
        rowful = set(self.pids(generation))
        started = rowful | _started_in(generation)
        _wait_ended(generation, started)
        rows = [r for r in self._rows(generation) if ended(generation, int(r[SLOT_PID]))]
        chosen = [r for r in rows if not r[SLOT_TERMINATED]]
        if not chosen and rows and not _died_otherwise(generation, started - rowful):
            chosen = [min(rows, key=lambda r: r[SLOT_TERMINATED])]
        return [self._culprit(generation, r) for r in chosen]

    def _culprit(self, generation: int, row: list[float]) -> Culprit:
        key = None if row[SLOT_KEY] == SLOT_IDLE else int(row[SLOT_KEY])
        return self.culprit(generation, int(row[SLOT_PID]), key)

    def culprit(self, generation: int, pid: int, key: int | None) -> Culprit:
        """A dead worker, with what it wrote in the attempt it died in (read while its
        row still holds that attempt, so no new worker has replaced its files)."""
        out = err = ""
        if key is not None:
            base = self._base(pid)
            if base is not None:
                out, err = capture.read_left(self.capture, row_name(base))
        return Culprit(key, pid, exit_code(generation, pid), out, err)

    def outputs(self, generation: int, dead: set[int]) -> dict[int, tuple[str, str]]:
        """What the attempt of each worker in `dead` wrote, by attempt key."""
        found = {}
        for row in self._rows(generation):
            pid, base = int(row[SLOT_PID]), self._base(int(row[SLOT_PID]))
            if pid in dead and row[SLOT_KEY] != SLOT_IDLE and base is not None:
                found[int(row[SLOT_KEY])] = capture.read_left(self.capture, row_name(base))
        return found

    def _base(self, pid: int) -> int | None:
        for base in range(0, self.rows * SLOT_FIELDS, SLOT_FIELDS):
            if int(self.array[base + SLOT_PID]) == pid:
                return base
        return None

    def clear(self, pid: int) -> None:
        """Free a dead worker's row so it is reported once and can be reused."""
        with self.lock:
            for base in range(0, self.rows * SLOT_FIELDS, SLOT_FIELDS):
                if int(self.array[base + SLOT_PID]) == pid:
                    self.array[base + SLOT_KEY] = SLOT_IDLE
                    self.array[base + SLOT_PID] = 0.0

    def forget(self, generation: int) -> None:
        """A generation is over: free its rows (evidence and all) and its process records.
        Rows that were never freed would starve later workers of a slot, and a worker
        without a slot runs tasks nobody can time out."""
        for pid in _started_in(generation):
            started_processes.pop((generation, pid), None)
        with self.lock:
            for base in range(0, self.rows * SLOT_FIELDS, SLOT_FIELDS):
                pid = int(self.array[base + SLOT_PID])
                if pid and int(self.array[base + SLOT_GENERATION]) == generation:
                    started_processes.pop((generation, pid), None)
                    self._parents.pop(pid, None)
                    self.array[base + SLOT_KEY] = SLOT_IDLE
                    self.array[base + SLOT_PID] = 0.0
