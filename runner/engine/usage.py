"""Memory seen from the runner: running attempts' process trees sampled on the engine's
tick, every `SAMPLE_SECONDS`, for the peaks the attempts could not see themselves (a
command's tree, what a worker's children hold) and for `enforce_memory`.

One sample reads the process table once for every running attempt together
(`runner.system.usage.tree_rss`). A pool worker's tree counts from the size the worker
published in its slot when the attempt began, so an attempt is held to what it added.
An attempt that holds more than its `memory` claim under `enforce_memory` is named
here; the engine stops it like a timeout, and it ends failed with a `MemoryLimit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from runner.engine.attempts import Attempt
from runner.events import ErrorInfo, Outcome, amend
from runner.executors.base import Running
from runner.plan import Plan
from runner.system.usage import tree_rss

SAMPLE_SECONDS = 0.5


class Usage:
    def __init__(self, plan: Plan, *, enabled: bool) -> None:
        self._plan = plan
        self._enabled = enabled
        self._enforce = plan.job.enforce_memory
        self._next = 0.0
        self.peaks: dict[int, int] = {}
        """The largest size sampled of each attempt still running, by key."""
        self._exceeded: dict[int, tuple[int, int]] = {}
        self.claims: Callable[[int, int], dict[str, int]] | None = None
        """What attempt n of a task of entry e claims (escalated on retries), when the job
        claims anything."""

    def sample(self, now: float, running: Sequence[tuple[Attempt, Running]]) -> list[Attempt]:
        """Sample when due; the attempts now over their memory claim (each named once)."""
        if not self._enabled or now < self._next or not running:
            return []
        self._next = now + SAMPLE_SECONDS
        sizes = tree_rss({seen.pid for _, seen in running if seen.pid > 0})
        over = []
        for attempt, seen in running:
            size = sizes.get(seen.pid)
            if size is None:
                continue
            added = max(size - seen.base_rss, 0)
            if added > self.peaks.get(attempt.key, 0):
                self.peaks[attempt.key] = added
            claim = self.claims(attempt.task.entry, attempt.number).get("memory") \
                if self._enforce and self.claims else None
            if claim is not None and added > claim and attempt.key not in self._exceeded:
                self._exceeded[attempt.key] = (added, claim)
                over.append(attempt)
        return over

    def settle(self, outcome: Outcome) -> Outcome:
        """The outcome with the largest size sampled of its attempt, if that is more than
        the attempt measured itself."""
        peak = self.peaks.pop(outcome.key, 0)
        return amend(outcome, peak_rss=peak) if peak > outcome.peak_rss else outcome

    def forget(self, first: int, count: int) -> None:
        """Drop what was sampled of the attempts keyed `first` to `first + count - 1`."""
        if self.peaks:
            for key in [key for key in self.peaks if first <= key < first + count]:
                del self.peaks[key]

    def exceeded(self, key: int, signame: str, grace: float) -> ErrorInfo | None:
        """The error of an attempt stopped for its memory, naming its peak and its claim."""
        found = self._exceeded.pop(key, None)
        if found is None:
            return None
        peak, claim = found
        return ErrorInfo("MemoryLimit", f"held {_size(peak)} of memory, over its memory "
                         f"claim of {_size(claim)} (enforce_memory): sent {signame} to its "
                         f"process tree, SIGKILL {grace:g}s later if still alive")


def _size(amount: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if amount >= size:
            return f"{amount / size:.1f} {unit} ({amount} bytes)"
    return f"{amount} bytes"
