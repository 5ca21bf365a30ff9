"""Opening a journal path: a regular file, never through a symbolic link, never blocking.

The journal writer opens its file here to append, and the reader to read back.
A journal path is whatever the user typed, so what sits there is checked before
anything runs. A symbolic link (the runner would append to whatever it points
at), a FIFO (its `open` blocks until a reader comes), a device (`/dev/null`) or
a directory is refused as bad input, exit 2. The journal is opened with
`O_NOFOLLOW` and `O_NONBLOCK` and checked with `fstat` on the descriptor it
got, so nothing swapped in between the check and the open is ever written.
What the operating system refuses (a folder that cannot be created, a
read-only or full file system) is the runner's environment, exit 3. Either is
one line naming the path and the cause.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from runner.errors import JournalError, NotAJournal, RunnerError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # no effect on a regular file; a FIFO never blocks
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISLNK,
          "a symbolic link"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def open_appending(path: Path) -> int:
    """A descriptor that reads and appends the journal at `path`, creating it (and its
    folder) when missing."""
    _refuse_special(path, follow=False)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalError(f"cannot create the folder {exc.filename or folder} for the journal "
                           f"{path}: {exc.strerror or exc}") from None
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC
    return _checked(path, flags)


def open_reading(path: Path) -> BinaryIO:
    """The journal at `path` (or what a symbolic link there points at) for reading."""
    _refuse_special(path, follow=True)
    return os.fdopen(_checked(path, os.O_RDONLY | _NONBLOCK | _CLOEXEC), "rb")


def open_peeking(path: Path) -> int | None:
    """A descriptor reading the journal at `path` for a look that must neither follow a
    link nor wait on a FIFO (`runner ps` reads journals the registry names); None when
    what is there is not a regular file; OSError when nothing can be opened."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _refuse_special(path: Path, *, follow: bool) -> None:
    """Refuse what is there already without opening it: opening a device can do things."""
    try:
        mode = os.stat(path, follow_symlinks=follow).st_mode
    except OSError:
        return  # missing, or out of reach: the open says which
    _require_regular(path, mode)


def _checked(path: Path, flags: int) -> int:
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise _refusal(path, exc, creating=bool(flags & os.O_CREAT)) from None
    try:
        _require_regular(path, os.fstat(fd).st_mode)
    except NotAJournal:
        os.close(fd)  # this process holds no lock on what it just opened: nothing released
        raise
    return fd


def _require_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a file")
        raise NotAJournal(f"the journal {path} is {kind}; a journal must be a regular file")


def _refusal(path: Path, exc: OSError, *, creating: bool) -> RunnerError:
    """Bad input (exit 2) when the path names the wrong kind of thing, or nothing to read;
    otherwise the environment refused (exit 3)."""
    if exc.errno == errno.ELOOP and os.path.islink(path):  # swapped in after the check
        return NotAJournal(f"the journal {path} is a symbolic link; a journal must be a "
                           "regular file")
    if exc.errno in (errno.EISDIR, errno.ENXIO):
        kind = "a directory" if exc.errno == errno.EISDIR else "a FIFO or device"
        return NotAJournal(f"the journal {path} is {kind}; a journal must be a regular file")
    if exc.errno == errno.ENOENT and not creating:
        return NotAJournal(f"the journal {path} does not exist")
    verb = "create" if creating and not os.path.lexists(path) else "open"
    return JournalError(f"cannot {verb} the journal {path}: {exc.strerror or exc}")
