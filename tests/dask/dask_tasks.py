"""Tasks the dask tests run; copied into each test's job folder (importable as `dask_tasks`)."""

from __future__ import annotations

import os
import signal
import time


def square(n: int) -> int:
    return n * n


def shout(word: str) -> str:
    print(word.upper())
    return word


def nap(seconds: float, value: object = None) -> object:
    time.sleep(seconds)
    return value


def whoami() -> dict[str, int]:
    return {"pid": os.getpid(), "ppid": os.getppid()}


def boom(message: str = "boom") -> None:
    raise ValueError(message)


def die() -> None:
    """Kill the process running the task, as the OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)
