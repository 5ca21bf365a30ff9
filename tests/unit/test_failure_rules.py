"""Matching failed attempts against a rule, from the outcome alone."""

from __future__ import annotations

from runner.engine.failure_rules import matches
from runner.events import ErrorInfo, Outcome, TaskStatus
from runner.jobfile.spec import FailureRule
from runner.worker.calling import kinds_of


def _outcome(status: TaskStatus, *, exit_code: int | None = None, error: str | None = None,
             kinds: tuple[str, ...] = ()) -> Outcome:
    info = ErrorInfo(error, "") if error else None
    return Outcome(1, status, 0.0, 1.0, 2, 1, "w", "h", exit_code=exit_code, error=info,
                   kinds=kinds)


class Gone(ConnectionRefusedError):
    """An exception of a user's module, two bases away from OSError."""


def test_exceptions_match_through_their_bases() -> None:
    rule = FailureRule.model_construct(statuses=[], exit_codes=[], exceptions=["OSError"])
    refused = _outcome(TaskStatus.FAILED, error="ConnectionRefusedError",
                       kinds=kinds_of(ConnectionRefusedError()))
    mine = _outcome(TaskStatus.FAILED, error=f"{__name__}.Gone", kinds=kinds_of(Gone()))
    assert kinds_of(Gone())[0] == f"{__name__}.Gone"  # qualified, as error.type names it
    assert matches(rule, refused) and matches(rule, mine)
    wrong = _outcome(TaskStatus.FAILED, error="ValueError", kinds=kinds_of(ValueError()))
    assert not matches(rule, wrong)
    by_own_name = FailureRule.model_construct(statuses=[], exit_codes=[], exceptions=["Gone"])
    assert matches(by_own_name, mine)


def test_the_runners_own_errors_match_by_name() -> None:
    rule = FailureRule.model_construct(statuses=[], exit_codes=[], exceptions=["MemoryLimit"])
    assert matches(rule, _outcome(TaskStatus.FAILED, error="MemoryLimit"))
    assert not matches(rule, _outcome(TaskStatus.TIMEOUT, error="Timeout"))


def test_exit_codes_and_signals() -> None:
    rule = FailureRule.model_construct(statuses=[], exit_codes=[3, 137], exceptions=[])
    assert matches(rule, _outcome(TaskStatus.FAILED, exit_code=3))
    assert matches(rule, _outcome(TaskStatus.CRASHED, exit_code=-9))  # SIGKILL: 128 + 9
    assert not matches(rule, _outcome(TaskStatus.CRASHED, exit_code=-15))
    assert not matches(rule, _outcome(TaskStatus.FAILED, exit_code=4))


def test_statuses_and_only_failures() -> None:
    rule = FailureRule.model_construct(statuses=["timeout"], exit_codes=[0], exceptions=[])
    assert matches(rule, _outcome(TaskStatus.TIMEOUT))
    assert not matches(rule, _outcome(TaskStatus.FAILED))
    assert not matches(rule, _outcome(TaskStatus.OK, exit_code=0))  # never an ok attempt
    assert not matches(rule, _outcome(TaskStatus.INTERRUPTED))
