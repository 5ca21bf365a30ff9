"""A bug in the runner, told in one line: what broke, and where its traceback went.

Flow: cli.main -> **crash** (anything that is not a RunnerError) -> stderr, exit 3.

A person who hits a bug needs to know it is one (not their job file's fault), and the
maintainers need its traceback; neither needs forty lines of frames on the console.
So the traceback goes to a private file in the temporary folder, and the console gets
one line naming it; `--debug` prints the traceback instead.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback


def report(exc: BaseException, *, debug: bool) -> None:
    """Say on stderr that `exc` is a bug: its traceback in full with `debug`, else one line
    naming the file that holds it (or the traceback itself when no file can be written)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    first = (str(exc).strip().splitlines() or [""])[0]
    what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if debug:
        sys.stderr.write(text)
        print(f"runner: internal error (a bug): {what}; please report it", file=sys.stderr)
        return
    path = _write(text)
    where = f"traceback in {path}" if path else "traceback above"
    if path is None:
        sys.stderr.write(text)
    print(f"runner: internal error (a bug): {what}; {where}; please report it",
          file=sys.stderr)


def _write(text: str) -> str | None:
    """The traceback in a new file only its owner can read (it may show paths and values
    of the job); None when no such file can be made."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = os.path.join(tempfile.gettempdir(), f"runner-crash-{stamp}-{os.getpid()}.txt")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8", errors="replace") as out:
            out.write(f"runner {' '.join(sys.argv[1:])}\n\n{text}")
    except OSError:
        return None
    return path
