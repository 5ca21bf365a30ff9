"""The failure rules' own rules, reported at line:col with every other problem: a rule
that can match nothing, a value listed twice, an exit code that never fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runner.jobfile.job import Job

HEAD = "version: 1\ntasks:\n"


def test_problems_come_together_at_their_places(problems: Callable[..., list[str]]) -> None:
    text = ("version: 1\n"
            "abort_on: {}\n"
            "defaults:\n"
            "  retry_on: {exit_codes: [0, 3, 3]}\n"
            "tasks:\n"
            "  - name: a\n"
            "    command: 'exit 1'\n"
            "    ok_exit_codes: [0, 1, 1]\n"
            "    retry_on: {exceptions: [OSError, OSError]}\n"
            "  - name: b\n"
            "    command: 'true'\n"
            "    retry_on: {statuses: [ok]}\n")
    found = problems(text)
    assert found[0].startswith("2:11: abort_on: matches no failure")
    assert "max_failures" in found[0]
    assert found[1:5] == [
        "4:27: defaults.retry_on.exit_codes[0]: exit code 0 is a success, never a failure "
        "a rule could match",
        "4:33: defaults.retry_on.exit_codes[2]: 3 is listed twice (also at item 1)",
        "8:27: tasks[0].ok_exit_codes[2]: 1 is listed twice (also at item 1)",
        "9:38: tasks[0].retry_on.exceptions[1]: 'OSError' is listed twice (also at item 0)",
    ]
    assert found[5].startswith("12:27: tasks[1].retry_on.statuses[0]: expected one of failed")
    assert len(found) == 6


@pytest.mark.parametrize("rule", ["{}", "{statuses: [], exit_codes: []}"])
def test_an_empty_retry_on_matches_nothing(problems: Callable[..., list[str]],
                                           rule: str) -> None:
    found = problems(HEAD + f"  - {{name: a, command: 'true', retry_on: {rule}}}\n")
    assert len(found) == 1 and "tasks[0].retry_on: matches no failure" in found[0]
    assert "retries: 0" in found[0]


def test_good_rules_load(job: Callable[..., Job]) -> None:
    loaded = job("version: 1\nabort_on: {exit_codes: [137], exceptions: [MemoryLimit]}\n"
                 "defaults: {retry_on: {statuses: [timeout, crashed]}}\ntasks:\n"
                 "  - {name: a, command: 'grep x f', ok_exit_codes: [0, 1],"
                 " retry_on: {exceptions: [OSError]}}\n")
    assert loaded.abort_on is not None and loaded.abort_on.exit_codes == [137]
