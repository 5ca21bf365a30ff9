"""A callable's output: its worker's file descriptors 1 and 2, pointed at two files, read
into the Outcome's `stdout` / `stderr`; executors read a dead worker's files for the
`crashed` / `timeout` outcome the runner writes itself.

A pool worker owns two files in the run's private folder (mode 0700), named after its
slot row (pool, mp-pool) or its attempt (process), and points its descriptors 1 and 2 at
them once, when it starts. Whatever a task writes there (print, `os.write(1, ...)`, a C
extension, a subprocess it starts) lands in them and never in the runner's own output.
They are opened with O_APPEND, so writers sharing them never overwrite each other, and
they are empty between attempts: at the end of one, one `fstat` per file says whether
anything was written, and only then is its tail read and the file truncated. The files
outlive their worker, so what a task wrote before it was killed is still there for the
runner to read.

A dask worker is not the runner's: its descriptors are lent to the attempt for its
duration only, pointed at unlinked files of that process.

With `logs:`, an attempt's descriptors 1 and 2 are its own log files instead, for its
duration (`keep`, `release`): its whole output is kept there, and its tails are read
back from their ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator

from runner.journal import logfiles
from runner.worker.tails import read_tail

SUFFIXES = {1: ".out", 2: ".err"}
_PREFIX = "runner-capture-"
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC


_files: dict[int, tuple[int, int]] = {}
"""This process's capture files: descriptor (1, 2) -> (its own copy, that file's inode)."""


class _Own:
    fixed = False
    """Descriptors 1 and 2 point at the files for the process's life (a pool worker)."""


# -- the runner's side ---------------------------------------------------------------


@contextlib.contextmanager
def run_folder(run_id: str) -> Iterator[str]:
    """The private folder (0700) of a run's capture files, for as long as the run lasts;
    removed with whatever it holds however the run ends (the guardian removes it when
    the runner itself is killed)."""
    folder = tempfile.mkdtemp(prefix=f"{_PREFIX}{run_id}-")
    try:
        yield folder
    finally:
        remove_folder(folder)


def remove_folder(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def remove_run_folders(run_id: str) -> None:
    """Remove what a run that is gone left of its capture folders (the guardian's last
    word); a run id is hex, so it is taken literally by the pattern."""
    import glob

    for folder in glob.glob(os.path.join(tempfile.gettempdir(), f"{_PREFIX}{run_id}-*")):
        remove_folder(folder)


def read_left(folder: str, name: str) -> tuple[str, str]:
    """The stdout and stderr tails a worker left in its files (empty when none)."""
    out, err = (_read_file(os.path.join(folder, name + SUFFIXES[fd])) for fd in (1, 2))
    return out, err


def discard(folder: str, name: str) -> None:
    for suffix in SUFFIXES.values():
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name + suffix))


def _read_file(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not info.st_size:
            return ""
        return read_tail(fd, info.st_size)
    except OSError:
        return ""
    finally:
        os.close(fd)


# -- the worker's side ---------------------------------------------------------------


def redirect(folder: str, name: str) -> None:
    """Point descriptors 1 and 2 at this worker's files in `folder`, for good, and
    sys.stdout / sys.stderr at them (UTF-8 whatever the locale; stderr line-buffered, as
    Python makes it)."""
    for fd, suffix in SUFFIXES.items():
        path = os.path.join(folder, name + suffix)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a dead worker's file: whatever it left running keeps it
        own = os.open(path, _CREATE, 0o600)
        os.dup2(own, fd)
        _files[fd] = (own, os.fstat(own).st_ino)
    _Own.fixed = True
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", 1, "utf-8", "backslashreplace", closefd=False)  # noqa: SIM115


def lend() -> tuple[int, int] | None:
    """For one attempt in a process the runner does not own: point descriptors 1 and 2
    at this process's unlinked files; what to `give_back`. None when they already are."""
    if _Own.fixed:
        return None
    flush()
    if not _files:
        for fd in SUFFIXES:
            own, path = tempfile.mkstemp(prefix="runner-capture-")
            os.unlink(path)
            os.set_inheritable(own, False)
            with contextlib.suppress(OSError):
                import fcntl

                fcntl.fcntl(own, fcntl.F_SETFL, fcntl.fcntl(own, fcntl.F_GETFL) | os.O_APPEND)
            _files[fd] = (own, os.fstat(own).st_ino)
    saved = os.dup(1), os.dup(2)
    for fd, (own, _) in _files.items():
        os.dup2(own, fd)
    return saved


def give_back(saved: tuple[int, int] | None) -> None:
    if saved is not None:
        for fd, previous in zip(SUFFIXES, saved):
            os.dup2(previous, fd)
            os.close(previous)


def take() -> tuple[str, str]:
    """The attempt's stdout and stderr tails; the files are left empty for the next.

    Two `lseek`s when nothing was written: this runs after every attempt."""
    flush()
    if not _files:  # lending them failed: the task's error says why
        return "", ""
    try:
        return _take(1), _take(2)
    except OSError as exc:  # the files are gone (a full disk cannot do this: they shrink)
        return "", f"[runner] could not read the task's output: {exc}\n"


def _take(fd: int) -> str:
    own, inode = _files[fd]
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
    except OSError:  # the task closed it, or made it a pipe: read ours, point it back
        os.dup2(own, fd)
        size = os.lseek(own, 0, os.SEEK_END)
    if not size:
        return ""
    if os.fstat(fd).st_ino != inode:  # the task made it another file: the same
        os.dup2(own, fd)
        size = os.lseek(own, 0, os.SEEK_END)
    text = read_tail(own, size)
    os.ftruncate(own, 0)
    return text


def keep(stem: str) -> tuple[int, int]:
    """With `logs:`, point descriptors 1 and 2 at the attempt's own log files (see
    runner.journal.logfiles) for its duration: the task writes its whole output there
    itself, as it goes. Returns them, for `release`."""
    flush()
    kept = logfiles.open_pair(stem)
    for fd, own in zip(SUFFIXES, kept):
        os.dup2(own, fd)
    return kept


def release(kept: tuple[int, int]) -> tuple[str, str]:
    """The attempt's stdout and stderr tails, read back from its log files, closed now;
    descriptors 1 and 2 are pointed back at the capture files."""
    flush()
    tails = []
    for fd, own in zip(SUFFIXES, kept):
        try:
            tails.append(read_tail(own, os.fstat(own).st_size))
        except OSError as exc:
            tails.append(f"[runner] could not read the task's output: {exc}\n")
        if fd in _files:
            os.dup2(_files[fd][0], fd)
        os.close(own)
    return tails[0], tails[1]


def flush() -> None:
    """Push what Python holds for sys.stdout / sys.stderr down to descriptors 1 and 2."""
    try:
        sys.stdout.flush()
    except Exception:  # a task may have replaced or closed it
        pass
    try:
        sys.stderr.flush()
    except Exception:
        pass
