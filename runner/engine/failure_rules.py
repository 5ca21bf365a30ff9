"""What a failed attempt means under the job's failure rules: whether an exit code counts
as ok (`ok_exit_codes`), whether the failure is retried (`retry_on`), and whether it ends
the run (`abort_on`).

A rule matches an attempt by any of its statuses, exit codes or exception names. A death
by signal N matches exit code 128 + N, as a shell reports it. Exception names match the
attempt's class or any of its bases: a callable's outcome carries the names of its
exception's whole MRO, so nothing is imported here; the runner's own error types
(`Timeout`, `MemoryLimit`, `CommandFailed`, ...) match by their names too.
"""

from __future__ import annotations

from runner.events import ErrorInfo, Outcome, TaskStatus, amend
from runner.jobfile.job import FailureRule
from runner.plan import Entry

FAILURES = frozenset({TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CRASHED})


def judged(outcome: Outcome, entry: Entry) -> Outcome:
    """A command that exited with one of its `ok_exit_codes` ended ok."""
    if (outcome.status is TaskStatus.FAILED and outcome.exit_code is not None
            and outcome.exit_code in entry.ok_exit_codes and entry.call is None):
        return amend(outcome, status=TaskStatus.OK, error=None)
    return outcome


def retried(entry: Entry, outcome: Outcome) -> bool:
    """Whether this failure may be retried: always without `retry_on`."""
    return entry.retry_on is None or matches(entry.retry_on, outcome)


def aborts(rule: FailureRule | None, outcome: Outcome) -> bool:
    """Whether the job's `abort_on` ends the run at this attempt."""
    return rule is not None and matches(rule, outcome)


def matches(rule: FailureRule, outcome: Outcome) -> bool:
    """Whether a failed attempt is one the rule names."""
    if outcome.status not in FAILURES:
        return False
    if outcome.status.value in rule.statuses:
        return True
    code = outcome.exit_code
    if code is not None and rule.exit_codes and (128 - code if code < 0 else code) \
            in rule.exit_codes:
        return True
    return bool(rule.exceptions) and any(
        name.rpartition(".")[2] in rule.exceptions for name in kinds(outcome))


def kinds(outcome: Outcome) -> tuple[str, ...]:
    """The exception class names an outcome answers to."""
    if outcome.kinds:
        return outcome.kinds
    return (outcome.error.type,) if outcome.error is not None else ()


def abort_cause(task: str, outcome: Outcome) -> str:
    """Why the run stops: the task and what about its attempt `abort_on` matched."""
    error: ErrorInfo | None = outcome.error
    what = f"{outcome.status.value}"
    if outcome.exit_code is not None:
        what += f", exit code {outcome.exit_code}"
    if error is not None:
        what += f", {error.type}"
    return f"abort_on matched by {task} ({what})"
