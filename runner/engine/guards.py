"""Live guards: `admission.min_free_memory` and `admission.max_load` hold back new starts
while the machine is short (GNU parallel's `--memfree` and `--load`). Running tasks go
on; the run waits, and a stop still ends it.

Admission asks `holding()` before it hands anything out, and the engine asks again on
its tick while `held`, so a run with nothing running notices when the machine recovers.
The machine is looked at no more than every CHECK_EVERY seconds, however often it is
asked: a run of a hundred thousand short tasks pays a clock read per message. When the
hold begins and ends, one line on stderr says why (not more than one every SAY_EVERY
seconds, so a load hovering at the limit does not flood the terminal).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import psutil

from runner.jobfile.claims import show_amount
from runner.jobfile.job import Admission

CHECK_EVERY = 0.5
SAY_EVERY = 5.0


class LiveGuards:
    """Whether the machine lets new tasks start now, and why not."""

    def __init__(self, min_free_memory: int | None, max_load: float | None,
                 say: Callable[[str], None]) -> None:
        self.min_free_memory = min_free_memory
        self.max_load = max_load
        self.held = False
        self._said = False  # the state the last line told
        self._say = say
        self._next_check = 0.0
        self._next_say = 0.0

    @classmethod
    def of(cls, admission: Admission) -> LiveGuards | None:
        """The job's guards; None when it sets none (then nothing is ever looked at)."""
        if admission.min_free_memory is None and admission.max_load is None:
            return None
        return cls(admission.min_free_memory, admission.max_load, _to_stderr)

    def holding(self) -> bool:
        """True while the machine is short; looks at it at most every CHECK_EVERY s."""
        now = time.monotonic()
        if now < self._next_check:
            return self.held
        self._next_check = now + CHECK_EVERY
        reason = self.shortage()
        self.held = reason is not None
        if self.held != self._said and now >= self._next_say:
            self._next_say, self._said = now + SAY_EVERY, self.held
            self._say(f"runner: holding back new tasks: {reason}" if reason is not None
                      else "runner: starting tasks again: the machine has room")
        return self.held

    def shortage(self) -> str | None:
        """Why nothing may start now, or None."""
        if self.min_free_memory is not None:
            available = psutil.virtual_memory().available
            if available < self.min_free_memory:
                return (f"{show_amount('memory', available)} of memory available, below "
                        f"admission.min_free_memory "
                        f"{show_amount('memory', self.min_free_memory)}")
        if self.max_load is not None:
            load = os.getloadavg()[0]
            if load > self.max_load:
                return (f"1-minute load average {load:.2f} above admission.max_load "
                        f"{self.max_load:g}")
        return None


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
