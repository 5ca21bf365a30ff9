"""Claims: what running tasks hold of `limits`, and which waiting task may start next.

Admission consults this before it hands out a task that claims anything; everything
else about claims is here. A claim is held per message in flight (a command, a batch
or a span), not per task: a pool worker runs one task of a message at a time, so a
batch of tasks that each claim `cpus: 1` holds one CPU while it runs, and batches and
spans keep working when every task claims something (a message never mixes entries
then, so its tasks claim alike). A claim comes back when its message's last task is
done with, whatever its status; a retry waiting for its delay holds nothing.

No more than `runners` messages run at once (the `workers` cap; None where the
executor does not keep it, on Dask), so a message may wait in flight behind others as
long as the `runners` largest claims in flight fit together: the pool's queue then
stays as full as without claims, and what runs never claims more than the limits.

Among ready tasks, plan order, with two exceptions:

- a task whose claims do not fit is parked in `waiting` (a short list, in plan order),
  so that the tasks behind it may start when theirs fit;
- the task that has waited longest reserves what it needs: the others start only on
  what is left beyond that reservation, so big claims are not starved by small ones.

A task of the plan's last entry is not parked: the tasks behind it are of the same
entry and claim the same, so none of them would fit either.

Attempts of retries take their escalated claims (`escalate`), capped at the limit.
Without any claim in the job, `enabled` is False and admission never calls in here.
"""

from __future__ import annotations

import bisect
import heapq
import os
from collections.abc import Callable

import psutil

from runner.engine.attempts import Attempt
from runner.errors import UsageError
from runner.jobfile.claims import entry_claims, entry_escalations, show_amount
from runner.jobfile.job import Job
from runner.plan import PlannedTask

MAX_WAITING = 64
"""Tasks parked because their claims did not fit, at most; past that, admission waits."""


def machine_limits() -> dict[str, int]:
    """The defaults of `limits`: the CPUs this process may run on, the machine's memory."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        cpus = os.process_cpu_count() or 1
    elif hasattr(os, "sched_getaffinity"):
        cpus = len(os.sched_getaffinity(0))
    else:
        cpus = os.cpu_count() or 1
    return {"cpus": cpus, "memory": psutil.virtual_memory().total}


def check_fits(job: Job) -> None:
    """Refuse a claim above a limit left to the machine's default: no task of its entry
    could ever start. (Explicit limits are checked with the job file.)"""
    claims = entry_claims(job)
    if not any(claims):
        return
    explicit, machine = job.limits.amounts(), machine_limits()
    for task, claim in zip(job.tasks, claims):
        for name, amount in claim.items():
            limit = machine.get(name)
            if name not in explicit and limit is not None and amount > limit:
                raise UsageError(
                    f'task "{task.name}" claims {show_amount(name, amount)} {name}, but this '
                    f"machine has {show_amount(name, limit)} (limits.{name} defaults to what "
                    f"the machine has); lower the claim or set limits.{name}")


class Claims:
    """The budget of a run: what is free of each limit, what each message in flight
    holds, and the tasks parked until their claims fit."""

    def __init__(self, job: Job, runners: int | None = None) -> None:
        self.runners = runners
        self._claims = entry_claims(job)
        self.enabled = any(self._claims)
        self.waiting: list[Attempt] = []
        self._last_entry = len(self._claims) - 1
        self._reserved: dict[str, int] = {}
        self._held: dict[int, dict[str, int]] = {}
        if not self.enabled:
            self.limits: dict[str, int] = {}
            self._free: dict[str, int] = {}
            self._escalate: list[dict[str, float]] = []
            return
        self.limits = {**machine_limits(), **job.limits.amounts()}
        self._free = dict(self.limits)
        self._escalate = entry_escalations(job)

    def claim(self, entry: int, number: int = 1) -> dict[str, int]:
        """What attempt `number` of a task of the entry claims: each retry multiplies the
        amounts `escalate` names, up to their limits."""
        base = self._claims[entry]
        factors = self._escalate[entry] if base and number > 1 else None
        if not factors:
            return base
        claim = dict(base)
        for name, factor in factors.items():
            if name not in claim:  # the defaults' escalate, of what this task leaves out
                continue
            amount, limit = claim[name], self.limits[name]
            for _ in range(number - 1):
                amount = min(int(amount * factor), limit)
            claim[name] = amount
        return claim

    def fits(self, claim: dict[str, int]) -> bool:
        """Whether the claim fits in what is free beyond the reservation."""
        free, reserved = self._free, self._reserved
        if self.runners is None or len(self._held) < self.runners:  # all may run at once
            return all(amount + reserved.get(name, 0) <= free[name]
                       for name, amount in claim.items())
        return all(self._busiest(name, amount) + reserved.get(name, 0) <= self.limits[name]
                   for name, amount in claim.items())

    def _busiest(self, name: str, amount: int) -> int:
        """The most of `name` that can be claimed at once with this claim in flight too:
        the sum of its `runners` largest claims."""
        amounts = [held.get(name, 0) for held in self._held.values()]
        amounts.append(amount)
        return sum(heapq.nlargest(self.runners or len(amounts), amounts))

    def take(self, key: int, claim: dict[str, int] | None) -> None:
        """The message under `key` holds the claim until `give_back(key)`."""
        if claim:
            for name, amount in claim.items():
                self._free[name] -= amount
            self._held[key] = claim

    def give_back(self, key: int) -> None:
        """The message under `key` is done with: what it held is free again."""
        claim = self._held.pop(key, None)
        if claim is not None:
            for name, amount in claim.items():
                self._free[name] += amount

    def may_park(self, task: PlannedTask) -> bool:
        """Whether to park a task that does not fit, to look at the ones behind it."""
        return task.entry != self._last_entry and len(self.waiting) < MAX_WAITING

    def park(self, attempt: Attempt) -> None:
        """Wait until the attempt's claims fit; the list stays in plan order. The first in
        it reserves its claims at once."""
        bisect.insort(self.waiting, attempt, key=_order)
        if self.waiting[0] is attempt:
            self._reserved = self.claim(attempt.task.entry, attempt.number)

    def unpark(self, room: Callable[[Attempt], bool]) -> Attempt | None:
        """The first parked attempt that fits and has `room`, its claims taken; None if
        none does. The first parked one that cannot start reserves its claims."""
        self._reserved = {}
        for i, attempt in enumerate(self.waiting):
            claim = self.claim(attempt.task.entry, attempt.number)
            if self.fits(claim) and room(attempt):
                del self.waiting[i]
                self.take(attempt.key, claim)
                return attempt
            if i == 0:
                self._reserved = claim
        return None

    def take_waiting(self) -> list[Attempt]:
        """The parked attempts, handed back to be cancelled."""
        taken, self.waiting, self._reserved = self.waiting, [], {}
        return taken


def _order(attempt: Attempt) -> tuple[int, int]:
    return attempt.task.index, attempt.number
