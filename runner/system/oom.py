"""Evidence for blaming the kernel's out-of-memory killer for a SIGKILL.

Flow: api.run marks the count at the start -> events.death_error asks what changed.

A process killed by SIGKILL that the runner did not stop was killed by someone:
often the out-of-memory killer, but a person's `kill -9` or a supervisor's looks
the same from the exit status. The kernel counts its OOM kills (`oom_kill` in
/proc/vmstat, container kills included), so the runner says which it was when it
can tell, and says it cannot tell when it cannot.
"""

from __future__ import annotations

_VMSTAT = "/proc/vmstat"
_at_start: list[int | None] = [None]


def count() -> int | None:
    """The kernel's OOM kills since boot, or None where it does not say (not Linux)."""
    try:
        with open(_VMSTAT, encoding="ascii") as stats:
            for line in stats:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def mark() -> None:
    """Remember the count now: the start of the run whose deaths are to be explained."""
    _at_start[0] = count()


def kills_since_mark() -> int | None:
    """OOM kills since `mark`, or None when that cannot be known."""
    before, now = _at_start[0], count()
    return None if before is None or now is None else now - before
