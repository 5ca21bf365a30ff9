"""Claims in the job file: what each entry claims of `limits` (its own `resources`
merged over the defaults', key by key, the task's amount winning), how its retries
escalate them, and the rules a file must keep for its claims to be possible.

Flow: yamlsafe (text -> values) -> **claims** (values -> problems, beside `rules`);
spec -> **claims** (Job -> amounts per entry) -> plan and engine.

The rules work on the raw values, like `rules`, so that they are reported together
with schema errors: a counter `limits` does not name (with a did-you-mean), a claim
above an explicit limit, and `escalate` of a resource the task does not claim. A claim
above a limit left to its default (the machine's CPUs or memory) can only be judged
on the machine that runs the job: the engine refuses it when the run starts.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticCustomError

from runner.jobfile import inherit
from runner.jobfile.values import parse_size

if TYPE_CHECKING:
    from runner.jobfile.job import Job

BUILTIN_RESOURCES = ("cpus", "memory")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"  # compiled when a job first names a resource

Problem = tuple[tuple[str | int, ...], str]


def entry_claims(job: Job) -> list[dict[str, int]]:
    """Each entry's claims, its own `resources` over the defaults' (per key)."""
    return [inherit.claims(task, job.defaults) for task in job.tasks]


def entry_escalations(job: Job) -> list[dict[str, float]]:
    """Each entry's `escalate` factors, its own over the defaults' (per key)."""
    defaults = job.defaults.escalate or {}
    return [{**defaults, **(task.escalate or {})} for task in job.tasks]


def show_amount(name: str, amount: float) -> str:
    """`memory` as a size people read (`1.5GiB`), any other resource as a number."""
    if name != "memory":
        return f"{amount:g}"
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if amount >= size:
            return f"{amount / size:.4g}{unit}"
    return f"{amount:g}B"


# -- the rules, on raw values ----------------------------------------------------------


def claim_problems(values: dict[str, Any]) -> list[Problem]:
    """Unknown counters, claims above explicit limits, `escalate` of unclaimed resources."""
    raw_limits = _mapping(values.get("limits"))
    limits = _amounts(raw_limits)
    known = sorted({*BUILTIN_RESOURCES, *map(str, raw_limits)})
    defaults = _mapping(values.get("defaults"))
    base = _mapping(defaults.get("resources"))
    problems = _claim_problems(base, ("defaults", "resources"), known, limits)
    tasks = values.get("tasks")
    claimed_anywhere = set(base)
    for i, task in enumerate(tasks if isinstance(tasks, list) else []):
        if not isinstance(task, dict):
            continue
        own = _mapping(task.get("resources"))
        claimed_anywhere |= set(own)
        problems += _claim_problems(own, ("tasks", i, "resources"), known, limits)
        problems += _escalate_problems(task.get("escalate"), ("tasks", i, "escalate"),
                                       {**base, **own}, "the task does not claim")
    problems += _escalate_problems(defaults.get("escalate"), ("defaults", "escalate"),
                                   dict.fromkeys(claimed_anywhere), "no task claims")
    return problems


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _claim_problems(claims: dict[str, Any], where: tuple[str | int, ...], known: list[str],
                    limits: dict[str, int]) -> list[Problem]:
    problems: list[Problem] = []
    for name, raw in claims.items():
        if name not in known:
            if re.fullmatch(_NAME, str(name)):  # the schema refuses any other name itself
                problems.append(((*where, name), _unknown(str(name), known)))
            continue
        amount = _amount(name, raw)
        limit = limits.get(name)
        if amount is not None and limit is not None and amount > limit:
            problems.append(((*where, name), (
                f"claims {show_amount(name, amount)} {name} but limits.{name} is "
                f"{show_amount(name, limit)}; the task could never start: lower the claim "
                f"or raise limits.{name}")))
    return problems


def _unknown(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f'; did you mean "{close[0]}"?' if close else "."
    return (f'unknown resource "{name}"{hint} A task claims cpus, memory or a counter that '
            f"`limits` declares (here: {', '.join(known)})")


def _escalate_problems(escalate: object, where: tuple[str | int, ...],
                       claimed: dict[str, Any], unclaimed: str) -> list[Problem]:
    if not isinstance(escalate, dict):
        return []
    return [((*where, name), f'escalates "{name}", which {unclaimed}; claim it '
             f"in `resources` (claimed here: {', '.join(sorted(map(str, claimed))) or 'nothing'})")
            for name in escalate if name not in claimed]


def _amounts(raw: dict[str, Any]) -> dict[str, int]:
    amounts = {name: _amount(name, value) for name, value in raw.items()}
    return {name: amount for name, amount in amounts.items() if amount is not None}


def _amount(name: str, value: object) -> int | None:
    """The amount if it is valid (the schema reports it otherwise)."""
    if name == "memory":
        try:
            return parse_size(value)
        except PydanticCustomError:
            return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
