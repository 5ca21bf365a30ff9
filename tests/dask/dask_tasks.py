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


_previous: list[object] = []


def square_where(n: int) -> list[object]:
    """n squared, and the key of the dask task the call ran in."""
    from distributed import get_worker

    return [n * n, str(get_worker().get_current_task())]


def nap_where(seconds: float) -> str:
    """Nap, then say the key of the dask task the call ran in."""
    from distributed import get_worker

    time.sleep(seconds)
    return str(get_worker().get_current_task())


def once_in_batch(n: int, flag: str, action: str) -> int:
    """n squared; but the first call of a run that shares its dask task with the call
    before it (so it runs inside a batch, not first) claims `flag`, a file, writing that
    task's key and n there, then naps 60 s (action "nap"), 3 s ("pause") or kills its own
    process ("die")."""
    from distributed import get_worker

    key = get_worker().get_current_task()
    batched = bool(_previous) and _previous[-1] == key
    _previous[:] = [key]
    if batched and _claim(flag, f"{key} {n}"):
        if action == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(3 if action == "pause" else 60)
    return n * n


def _claim(flag: str, key: str) -> bool:
    try:
        descriptor = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as out:
        out.write(key)
    return True
