"""Process trees through psutil: find them, signal them deepest first, kill, reap.

This is the one seam for operating-system specifics. Stopping a task means
stopping everything it started, so every operation takes a whole tree, signals
the deepest processes first (a parent that dies first would orphan its
children before they are found), tolerates processes that vanish meanwhile,
and identifies a process by PID *and* create time so a recycled PID is never
hit. Linux extras (a child subreaper, so orphans come back to the runner) are
tried and skipped quietly where the platform lacks them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

import psutil

RUN_MARKER_ENV = "RUNNER_RUN_ID"
"""Every process a run starts carries this in its environment: stragglers are found by it."""

_PR_SET_CHILD_SUBREAPER = 36
_SUBREAPER = False


def signal_number(name: str) -> int:
    return int(getattr(signal, name))


def tree(root: int | psutil.Process, *, include_root: bool = True) -> list[psutil.Process]:
    """The root and all its descendants, deepest first; empty if the root is gone."""
    try:
        process = root if isinstance(root, psutil.Process) else psutil.Process(root)
        found = process.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []
    ordered = sorted(found, key=lambda p: _depth(p, process.pid), reverse=True)
    return [*ordered, process] if include_root else ordered


def _depth(process: psutil.Process, root: int) -> int:
    depth = 0
    with contextlib.suppress(psutil.Error):
        for parent in process.parents():
            depth += 1
            if parent.pid == root:
                break
    return depth


def killpg(pgid: int, signum: int) -> None:
    """Signal a process group that may be gone already (or never ours to signal)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def outside_group(processes: Iterable[psutil.Process], pgid: int) -> list[psutil.Process]:
    """Those of `processes` that have left process group `pgid` (a gone one is left out):
    what a signal to the group did not reach."""
    left = []
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(process.pid) != pgid:
                left.append(process)
    return left


def send(processes: Iterable[psutil.Process], signum: int) -> None:
    """Signal each process that is still the one we found (PID and create time)."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            if process.is_running():
                process.send_signal(signum)


def alive(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    living = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                living.append(process)
    return living


def kill_trees(pids: Iterable[int], signum: int = signal.SIGKILL,
               grace: float = 1.0) -> list[psutil.Process]:
    """Signal whole trees (one scan of the process table for all of them), wait up to
    `grace`, SIGKILL what is left; return what survived that."""
    roots = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            roots.append(psutil.Process(pid))
    return kill_all(forest(roots), signum, grace) if roots else []


def kill_all(members: list[psutil.Process], signum: int = signal.SIGTERM,
             grace: float = 5.0) -> list[psutil.Process]:
    send(members, signum)
    living = wait_gone(members, grace)
    if not living:
        return []
    late = [p for proc in living for p in tree(proc)]
    send(late or living, signal.SIGKILL)
    return wait_gone(late or living, 5.0)


def wait_gone(processes: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has exited; return those still alive after `timeout`.

    A zombie counts as gone: `psutil.wait_procs` waits for a zombie that is not our
    child until someone else reaps it, which an init may do only every few seconds
    (or never, in a container without one). Nothing is reaped here: a child of ours
    belongs to whoever started it (a `multiprocessing.Process` or a `Popen` that will
    `waitpid` it), and taking its exit status away would leave that owner believing
    it alive forever (ProcessPoolExecutor then spins in its shutdown)."""
    deadline = time.monotonic() + timeout
    pending = list(processes)
    interval = 0.005
    while True:
        pending = alive(pending)
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
        interval = min(interval * 2, 0.05)


def marked(run_id: str, *, exclude: Iterable[int] = ()) -> list[psutil.Process]:
    """Processes whose environment carries this run's marker, whoever their parent is now."""
    return by_marker(exclude=exclude).get(run_id, [])


def by_marker(*, exclude: Iterable[int] = ()) -> dict[str, list[psutil.Process]]:
    """Every process carrying a run marker, grouped by run id: one scan for all runs.

    Only the environment a process was started with can be read from outside, so a
    process that set the marker after it started (a `fork` worker) is not seen here."""
    skip = {os.getpid(), *exclude}
    found: dict[str, list[psutil.Process]] = {}
    for process in psutil.process_iter():
        if process.pid in skip:
            continue
        with contextlib.suppress(psutil.Error, OSError):
            run_id = process.environ().get(RUN_MARKER_ENV)
            if run_id:
                found.setdefault(run_id, []).append(process)
    return found


def forest(roots: Iterable[psutil.Process]) -> list[psutil.Process]:
    """Several roots and all their descendants, each once, deepest first across the trees.

    One scan of the process table serves every root, however many there are."""
    children: dict[int, list[psutil.Process]] = {}
    for process in psutil.process_iter(["ppid"]):
        children.setdefault(process.info["ppid"], []).append(process)
    members: dict[int, psutil.Process] = {}
    pending = list(roots)
    while pending:
        process = pending.pop()
        if process.pid not in members:
            members[process.pid] = process
            pending.extend(children.get(process.pid, []))
    return sorted(members.values(), key=lambda p: _depth(p, 0), reverse=True)


def freeze(roots: Iterable[psutil.Process], rounds: int = 10) -> list[psutil.Process]:
    """Suspend whole trees, deepest first, and return every member.

    A suspended process cannot start another, so a tree frozen this way can be
    killed without a race against a parent that respawns its children (a pool
    replacing dead workers). Each round suspends what the previous one missed
    because it was started meanwhile; `rounds` bounds a fork bomb. This process is
    never suspended, even when it belongs to a tree it freezes."""
    frozen: dict[int, psutil.Process] = {os.getpid(): psutil.Process()}
    pending = list(roots)
    for _ in range(rounds):
        fresh = [p for p in forest(pending) if p.pid not in frozen]
        if not fresh:
            break
        for process in fresh:
            with contextlib.suppress(psutil.Error):
                process.suspend()
            frozen[process.pid] = process
        pending = fresh
    del frozen[os.getpid()]
    return sorted(frozen.values(), key=lambda p: _depth(p, 0), reverse=True)


def become_subreaper() -> bool:
    """Make orphaned descendants come back to this process instead of init (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        global _SUBREAPER
        _SUBREAPER = bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
        return _SUBREAPER
    except (OSError, AttributeError):
        return False


def end_leftovers(run_id: str, grace: float, spare: int = 0) -> list[int]:
    """After a run: end whatever it started that is still alive (a daemon a task forked
    off, which left its task's process tree and group) and return their PIDs. Found by
    the run's marker, and, when this process is a subreaper, as orphans handed back to
    it; their exit status is collected so no zombie stays. `spare` is the run's guardian,
    known by its PID rather than by what its command line says."""
    leftovers = [p for p in _suspects(run_id) if p.pid != spare and not _is_infrastructure(p)]
    if not leftovers:
        return []
    members = forest(leftovers)
    kill_all(members, signal.SIGTERM, grace)
    for stray in leftovers:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(stray.pid, os.WNOHANG)
    return sorted({p.pid for p in members})


def _suspects(run_id: str) -> list[psutil.Process]:
    """One pass over the process table: this process's children when it is a subreaper
    (orphans handed back to it: the pools and commands of the run are gone by now), and
    the processes carrying the run's marker. Only a process started after this one can
    carry it, so only those environments are read: reading every process's costs a
    run 50 ms per thousand processes on the machine. Start times are compared as the
    kernel counts them, which a step of the wall clock does not move."""
    me = os.getpid()
    table = _process_table()
    born = table.get(me, (0, 0.0))[1]
    found = []
    for pid, (ppid, started) in table.items():
        if pid == me or started < born:
            continue
        with contextlib.suppress(psutil.Error, OSError):
            process = psutil.Process(pid)
            if (_SUBREAPER and ppid == me) or process.environ().get(RUN_MARKER_ENV) == run_id:
                found.append(process)
    return found


def _process_table() -> dict[int, tuple[int, float]]:
    """PID -> (parent PID, start time) of every process. On Linux straight from
    /proc/PID/stat, start in clock ticks since boot: a third of psutil's cost."""
    if not sys.platform.startswith("linux"):
        return {p.pid: (p.info["ppid"], p.info["create_time"] or 0.0)
                for p in psutil.process_iter(["ppid", "create_time"])}
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    stat = handle.read()
                # after "PID (name) ": state, ppid, ... and the start time, 20th
                fields = stat[stat.rfind(b")") + 2:].split()
                table[int(entry.name)] = (int(fields[1]), float(fields[19]))
    return table


def _is_infrastructure(process: psutil.Process) -> bool:
    """multiprocessing's forkserver and resource tracker belong to the interpreter, not the
    run (they carry its marker when the run started them, and end with the runner), and
    the guardian ends itself."""
    try:
        cmdline = " ".join(process.cmdline())
    except psutil.Error:
        return False
    return any(name in cmdline for name in (
        "multiprocessing.forkserver", "multiprocessing.resource_tracker", "runner.system.guardian"))


def identity(pid: int) -> tuple[int, float] | None:
    """PID and create time: enough to recognise the same process later."""
    try:
        return pid, psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def same_process(pid: int, create_time: float) -> psutil.Process | None:
    try:
        process = psutil.Process(pid)
    except psutil.Error:
        return None
    # two readings of one process's create time may differ by the boot time's second
    return process if abs(process.create_time() - create_time) < CREATE_TIME_SLACK else None


def holds_open(process: psutil.Process, path: os.PathLike[str] | str) -> bool:
    """Whether `process` has the file at `path` open (False if that cannot be seen)."""
    try:
        wanted = os.stat(path)
        opened = process.open_files()
    except (psutil.Error, OSError):
        return False
    for entry in opened:
        with contextlib.suppress(OSError):
            found = os.stat(entry.path)
            if (found.st_dev, found.st_ino) == (wanted.st_dev, wanted.st_ino):
                return True
    return False


CREATE_TIME_SLACK = 2.0
"""psutil derives create times from the boot time, which /proc gives in whole seconds, so a
create time can be up to a second off the wall clock; twice that is a safe margin."""


def created_before(pid: int, moment: float) -> float | None:
    """The create time of `pid` if that process already existed at `moment` (a wall-clock
    time it was seen at work); None if it is gone or the PID now names a younger process."""
    found = identity(pid)
    if found is None or found[1] > moment + CREATE_TIME_SLACK:
        return None
    return found[1]


LOST_STATUS = -(1 << 16)
"""The exit code of a child whose status someone else collected (it ended; how is unknown)."""


class Child:
    """A program started by `spawn`: its PID, and once it has ended its exit code and the
    kernel's account of what it and the children it waited for used (`usage`)."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self._popen = popen
        self.returncode: int | None = None
        self.usage: Any = None
        """A `resource.struct_rusage` once reaped where the platform has `wait4`."""

    def poll(self) -> int | None:
        """The exit code (minus the signal number if a signal ended it), reaping the child;
        None while it runs."""
        if self.returncode is None:
            self._reap(os.WNOHANG)
        return self.returncode

    def wait(self) -> int:
        while self.returncode is None:
            self._reap(0)
        return self.returncode

    def _reap(self, options: int) -> None:
        try:
            if hasattr(os, "wait4"):
                pid, status, usage = os.wait4(self.pid, options)
            else:
                (pid, status), usage = os.waitpid(self.pid, options), None
        except ChildProcessError:  # reaped by someone else: ended, status unknown
            self.returncode = LOST_STATUS
            return
        if pid:
            self.returncode, self.usage = os.waitstatus_to_exitcode(status), usage
            if self._popen is not None:  # reaped here: its Popen must not wait for it
                self._popen.returncode = self.returncode


_STDIN_NULL = (getattr(os, "POSIX_SPAWN_OPEN", 0), 0, os.devnull, os.O_RDONLY, 0)
_RESTORED_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
"""Python ignores these; a program expects them at their defaults (`yes | head` must end
quietly on SIGPIPE), as Popen restores them too."""


@functools.lru_cache(maxsize=256)
def _program(name: str, path: str) -> str:
    """Where `name` is on `path`, looked up once: posix_spawnp would try every directory
    before the right one for each of thousands of commands."""
    if os.sep in name:
        return name
    found = shutil.which(name, path=path)
    if found is None:
        raise FileNotFoundError(2, "No such file or directory", name)
    return found


def spawn(argv: list[str], env: dict[str, str], cwd: str | None, stdout: int,
          stderr: int) -> Child:
    """Start a program in a session of its own, stdin from /dev/null, output to the given
    descriptors. `posix_spawnp` (a vfork on Linux) costs a fraction of `subprocess.Popen`;
    Popen remains for what posix_spawn cannot do here: a working directory, or a platform
    without it."""
    if cwd is None and hasattr(os, "posix_spawn") and sys.platform.startswith("linux"):
        actions = [_STDIN_NULL, (os.POSIX_SPAWN_DUP2, stdout, 1),
                   (os.POSIX_SPAWN_DUP2, stderr, 2)]
        program = _program(argv[0], env.get("PATH", os.defpath))
        pid = os.posix_spawn(program, argv, env, file_actions=actions, setsid=True,
                             setsigdef=_RESTORED_SIGNALS)
        return Child(pid)
    popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                             cwd=cwd, env=env, start_new_session=True)
    return Child(popen.pid, popen)
