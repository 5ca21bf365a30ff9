"""Writing whole: a small file beside its place first, then renamed into it, and all
of a buffer to a descriptor.

A reader of the registry or of the schema cache never sees half a file, and a
writer that dies leaves at most a hidden `.tmp` file beside it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def write_atomically(path: Path, text: str, *, mode: int = 0o600) -> int:
    """Write `text` to a new file beside `path` (created with `mode`, less the umask) and
    rename it to `path`; return its descriptor, still open, for the caller to close or hold."""
    temporary = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    fd = os.open(temporary, flags, mode)
    try:
        write_all(fd, text.encode())
        os.replace(temporary, path)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return fd


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data`: a write to a pipe, a terminal or a full disk may take part."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
