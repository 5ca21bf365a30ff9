"""A catalogue of tasks that misbehave in every way a process can, and a few that don't.

`jobs/faults.yml` runs each of them next to healthy tasks; the test suite
runs the same catalogue under every executor and start method.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def square(n: int) -> int:
    return n * n


def nap(seconds: float, value: object = None) -> object:
    time.sleep(seconds)
    print(f"napped {seconds}")
    return value


def whoami(pause: float = 0.0) -> dict[str, object]:
    time.sleep(pause)
    return {"pid": os.getpid(), "ppid": os.getppid()}


def raise_error(message: str = "boom") -> None:
    raise ValueError(message)


def nap_then_raise(seconds: float, message: str = "boom") -> None:
    time.sleep(seconds)
    raise ValueError(message)


def exit_with(code: int) -> None:
    sys.exit(code)


def hard_exit(code: int = 3) -> None:
    os._exit(code)


def kill_self(signame: str = "SIGKILL") -> None:
    os.kill(os.getpid(), getattr(signal, signame))
    time.sleep(10)


def segfault() -> None:
    ctypes.string_at(0)


def hang() -> None:
    time.sleep(3600)


def ignore_sigterm_and_hang() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(3600)


def grandchild_and_return() -> int:
    child = subprocess.Popen(["sleep", "300"])
    return child.pid


def daemon_and_return() -> str:
    """Fork off a daemon (its own session, its parent gone at once) and return."""
    subprocess.run(["sh", "-c", "setsid sleep 300 > /dev/null 2>&1 &"], check=True)
    return "left a daemon behind"


def grandchild_and_hang() -> None:
    subprocess.Popen(["sleep", "300"])
    time.sleep(3600)


def unpicklable_result() -> object:
    return threading.Lock()


class _NeedsTwo(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(a)
        self.b = b


def unpicklable_exception() -> None:
    raise _NeedsTwo("cannot be rebuilt from its args", "second")


def huge_output(megabytes: int = 20) -> int:
    line = "x" * 1023 + "\n"
    for _ in range(megabytes * 1024):
        sys.stdout.write(line)
    return megabytes


def flaky(counter: str, failures: int) -> int:
    """Fail `failures` times (counted in a file), then succeed."""
    path = Path(counter)
    done = int(path.read_text()) if path.exists() else 0
    path.write_text(str(done + 1))
    if done < failures:
        raise RuntimeError(f"flaky failure {done + 1}")
    return done + 1
