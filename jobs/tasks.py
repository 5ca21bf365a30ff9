"""The callables the example jobs run: the seed tutorial's `task`, and a few more.

`task(name, n)` is the seed's own: sleep a second, print the name, return n**2.
"""

from __future__ import annotations

import os
import time


def task(name: str, n: int) -> int:
    time.sleep(1)
    print(name)
    return n**2


def square(n: int) -> int:
    return n * n


def whoami(name: str) -> dict[str, object]:
    """What the seed printed with os.getpid() and os.getppid()."""
    time.sleep(0.5)
    return {"name": name, "pid": os.getpid(), "ppid": os.getppid()}
