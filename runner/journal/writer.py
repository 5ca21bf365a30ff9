"""The journal file a run appends to: held locked, written in whole bursts.

Lines are written with a single `write` on an `O_APPEND` descriptor, so a
reader never sees half an event except at the very end of a file whose writer
was killed mid-write (`--resume` trims such a torn line). The file is locked
while a run writes it, so a second run on the same journal fails fast instead
of interleaving, and no other file is made next to it. It is a POSIX record
lock, which a forked worker does not inherit: when the runner dies the lock
goes with it, so `--resume` can start at once and kill the survivors itself.
Closing any descriptor of a file drops this process's POSIX locks on it, so
the runner reads its journal back only through `JournalFile.reading`. A write
that fails (disk full, file too large) raises `JournalError`: the run stops
rather than claim success with records missing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

from runner.errors import JournalError
from runner.journal import files
from runner.system.atomic import write_all


class JournalFile:
    """The journal at `path`, opened for appending (created when missing) and locked."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        if _file_id(path) in _HELD:  # checked before opening: see _HELD
            raise _in_use(path, str(os.getpid()))
        self._fd = files.open_appending(path)
        self._id = _lock(path, self._fd)

    def reading(self) -> BinaryIO:
        """The journal for reading (and trimming) through the locked descriptor, which
        stays open when the stream is closed, and so does the lock."""
        return open(self._fd, "rb+", closefd=False)

    def write(self, data: bytes) -> None:
        try:
            write_all(self._fd, data)
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            raise JournalError(
                f"cannot write the journal {self.path}: {exc.strerror}; the run is stopped "
                "because its record would be incomplete") from None

    def close(self) -> None:
        _HELD.discard(self._id)
        os.close(self._fd)  # which releases the lock


def _lock(journal: Path, fd: int) -> tuple[int, int]:
    """Lock the open journal for this run; its (device, inode), now in _HELD."""
    if not _try_lock(fd):
        holder = _lock_holder(fd)
        os.close(fd)  # this process holds no lock on it: closing releases nobody's
        raise _in_use(journal, holder)
    found = os.fstat(fd)
    _HELD.add((found.st_dev, found.st_ino))
    return found.st_dev, found.st_ino


def _lock_holder(fd: int) -> str:
    """The PID holding a POSIX lock on the file, as Linux lists it in /proc/locks
    (`1: POSIX  ADVISORY  WRITE 4242 08:01:1234 0 EOF`); "unknown" elsewhere."""
    if not sys.platform.startswith("linux"):
        return "unknown"
    found = os.fstat(fd)
    key = f"{os.major(found.st_dev):02x}:{os.minor(found.st_dev):02x}:{found.st_ino}"
    try:
        with open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                if key in fields and "->" not in fields:  # "->" marks a waiter
                    return fields[fields.index(key) - 1]
    except OSError:
        pass
    return "unknown"


_HELD: set[tuple[int, int]] = set()
"""(device, inode) of the journals this process holds locked. A POSIX lock never refuses the
process that holds it, and closing any descriptor of the file releases it, so a second
run in the same process is refused here, before it opens the file at all."""


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.lstat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _in_use(journal: Path, holder: str) -> JournalError:
    return JournalError(f"the journal {journal} is in use by another run (pid {holder}); "
                        "wait for it to finish or give this run another --journal")


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # msvcrt.locking is Windows' equivalent of flock
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:  # lockf, not flock: a flock is shared with forked workers and outlives the runner
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
