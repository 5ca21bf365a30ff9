"""Tasks of jobs/resources.yml: work that needs memory, and a first try that runs short."""

from __future__ import annotations

import os
from pathlib import Path


def crunch(megabytes: int, tries_short: int = 1) -> int:
    """Fill a buffer of `megabytes` MiB and return a checksum of it. The first
    `tries_short` attempts of a run raise MemoryError, as a task given too little memory
    would, so that the run shows a retry claiming more (counted in a file named by the
    runner's pid beside this module, removed by the attempt that succeeds)."""
    tally = Path(__file__).with_name(f".hungry-tries-{os.getppid()}")
    tries = int(tally.read_text()) if tally.exists() else 0
    if tries < tries_short:
        tally.write_text(str(tries + 1))
        raise MemoryError(f"{megabytes} MiB did not fit (try {tries + 1})")
    tally.unlink(missing_ok=True)
    buffer = bytearray(megabytes * 2**20)
    for at in range(0, len(buffer), 4096):
        buffer[at] = at % 251
    return sum(buffer[::4096])
