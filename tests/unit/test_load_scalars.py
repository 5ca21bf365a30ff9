"""Strict scalars, durations, failure limits, bounds and `${VAR}` interpolation.

A value that only looks right (`workers: "4"`, `timeout: 1:30`, a bare `no`)
is an error at its own line and column, with a hint; nothing is coerced.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.jobfile.job import CallTask, Job
from runner.jobfile.loader import load
from runner.jobfile.scalars import resolve_plain
from runner.jobfile.values import parse_duration

TASK = "tasks:\n  - name: a\n    call: m:f\n"
VALID = "version: 1\n" + TASK
DURATION = 'expected a duration like "30s", "500ms", "1h30m" or a number of seconds, got'
POSITIVE = "expected a duration greater than 0 and at most 365d (31536000 seconds), got"
FAILURES = 'expected a count of at least 1 or a percentage like "10%", got'


def first_args(job: Job) -> list[Any]:
    task = job.tasks[0]
    assert isinstance(task, CallTask)
    return task.args


def ambiguous_bool(word: str) -> str:
    return (f'"{word}" is ambiguous: YAML 1.1 reads it as a boolean, YAML 1.2 as a string; '
            f'write true or false, or quote it: "{word}"')


def ambiguous_number(text: str) -> str:
    number = {"0755": "755", "08": "8", "1_000": "1000"}[text]
    return (f'"{text}" is ambiguous: YAML 1.1 and 1.2 read it as different values (0755 is '
            f'493 or 755); write {number} for the number, or quote it ("{text}") for text')


SEXAGESIMAL = ('"1:30" is ambiguous: YAML 1.1 reads it as 90 (base 60), YAML 1.2 as text; '
               'write 90 (or "1m30s") for a number of seconds, or quote it ("1:30") for text')


@pytest.mark.parametrize(("line", "expected"), [
    ("workers: true", "2:10: workers: expected an integer, got true (a boolean)"),
    ('workers: "4"', '2:10: workers: expected an integer, got "4" (a string); write 4 '
     "without quotes"),
    ("workers: 4.0", "2:10: workers: expected an integer, got 4.0; write a whole number"),
    ("workers: 0", "2:10: workers: must be at least 1, got 0"),
    ("workers: -2", "2:10: workers: must be at least 1, got -2"),
    ("backlog: 0", "2:10: backlog: must be at least 1, got 0"),
    ("max_tasks_per_worker: 0", "2:23: max_tasks_per_worker: must be at least 1, got 0"),
    ("workers: 1:30", f"2:10: workers: {SEXAGESIMAL}"),
    ("workers: 0755", f"2:10: workers: {ambiguous_number('0755')}"),
    ("workers: 08", f"2:10: workers: {ambiguous_number('08')}"),
    ("workers: 1_000", f"2:10: workers: {ambiguous_number('1_000')}"),
    ("name: no", f"2:7: name: {ambiguous_bool('no')}"),
    ("description: Off", f"2:14: description: {ambiguous_bool('Off')}"),
    ("journal_fsync: yes", f"2:16: journal_fsync: {ambiguous_bool('yes')}"),
    ('journal_fsync: "true"', '2:16: journal_fsync: expected true or false, got "true" '
     "(a string); write true or false without quotes"),
    ("mode: on", f"2:7: mode: {ambiguous_bool('on')}"),
    ("mode: Sync", '2:7: mode: expected one of sync, async, got "Sync" (a string); did you '
     'mean "sync"?'),
    ("executor: pol", '2:11: executor: expected one of process, pool, mp-pool, dask, got '
     '"pol" (a string); did you mean "pool"?'),
    ("name: 42", '2:7: name: expected a string, got 42; quote it if you mean the text: "42"'),
    ("name: true", '2:7: name: expected a string, got true (a boolean); quote it if you '
     'mean the text: "true"'),
    ("shutdown: {wait: ON}", f"2:18: shutdown.wait: {ambiguous_bool('ON')}"),
    ("shutdown: {grace: 0}", f"2:19: shutdown.grace: {POSITIVE} 0"),
    ("shutdown: {signal: SIGFOO}", "2:20: shutdown.signal: expected one of SIGTERM, SIGINT, "
     'SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGKILL, got "SIGFOO" (a string); did you mean '
     '"SIGINT"?'),
    ("defaults: {retries: -1}", "2:21: defaults.retries: must be at least 0, got -1"),
    ("defaults: {env: {A: no}}", f"2:21: defaults.env.A: {ambiguous_bool('no')}"),
])
def test_strict_top_level_scalars(problems: Callable[..., list[str]], line: str,
                                  expected: str) -> None:
    assert problems(f"version: 1\n{line}\n" + TASK) == [expected]


@pytest.mark.parametrize(("line", "expected"), [
    ("timeout: .inf", f"5:14: tasks[0].timeout: {POSITIVE} inf"),
    ("timeout: .nan", f"5:14: tasks[0].timeout: {POSITIVE} nan"),
    ("timeout: -1", f"5:14: tasks[0].timeout: {POSITIVE} -1"),
    ("timeout: 0", f"5:14: tasks[0].timeout: {POSITIVE} 0"),
    ("timeout: 0s", f'5:14: tasks[0].timeout: {POSITIVE} "0s" (a string)'),
    ("timeout: 1:30", f"5:14: tasks[0].timeout: {SEXAGESIMAL}"),
    ("timeout: 0755", f"5:14: tasks[0].timeout: {ambiguous_number('0755')}"),
    ("timeout: fast", f'5:14: tasks[0].timeout: {DURATION} "fast" (a string)'),
    ("timeout: 5 m", f'5:14: tasks[0].timeout: {DURATION} "5 m" (a string)'),
    ("timeout: 1h 30m", f'5:14: tasks[0].timeout: {DURATION} "1h 30m" (a string)'),
    ("timeout: 5S", f'5:14: tasks[0].timeout: {DURATION} "5S" (a string)'),
    ("timeout: true", f"5:14: tasks[0].timeout: {DURATION} true (a boolean)"),
    ("retry_delay: [1]", f"5:18: tasks[0].retry_delay: {DURATION} a list"),
    ("retries: 1.0", "5:14: tasks[0].retries: expected an integer, got 1.0; write a whole "
     "number"),
    ("retries: -1", "5:14: tasks[0].retries: must be at least 0, got -1"),
    ("args: [yes]", f"5:12: tasks[0].args[0]: {ambiguous_bool('yes')}"),
    ("kwargs: {flag: off}", f"5:20: tasks[0].kwargs.flag: {ambiguous_bool('off')}"),
    ("env: {A: 1}", '5:14: tasks[0].env.A: expected a string, got 1; quote it if you mean '
     'the text: "1"'),
    ("env: {1A: x}", '5:11: tasks[0].env.1A: expected a name of letters, digits and _ not '
     'starting with a digit, got "1A" (a string)'),
])
def test_strict_task_scalars(problems: Callable[..., list[str]], line: str,
                             expected: str) -> None:
    assert problems(VALID + f"    {line}\n") == [expected]


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("1m30s", 90.0),
    ("2h", 7200.0), ("1d", 86400.0), ("0.5s", 0.5), ("1.5", 1.5), ("2", 2.0), ("1e3", 1000.0),
])
def test_durations(job: Callable[..., Job], text: str, seconds: float) -> None:
    loaded = job(VALID + f"    timeout: {text}\n    retry_delay: {text}\n")
    assert loaded.tasks[0].timeout == seconds == loaded.tasks[0].retry_delay


@pytest.mark.parametrize("value", [0, -1, 0.0, math.inf, math.nan, "0ms", "", "1x", True,
                                   None, [1]])
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize(("text", "limit"), [
    ("1", 1), ("3", 3), ("10%", 0.1), ('"10%"', 0.1), ("100%", 1.0), ("0.5%", 0.005),
])
def test_max_failures_counts_and_percentages(job: Callable[..., Job], text: str,
                                             limit: float) -> None:
    assert job(f"version: 1\nmax_failures: {text}\n" + TASK).max_failures == limit


@pytest.mark.parametrize(("text", "shown"), [
    ("0", "0"), ("-1", "-1"), ("2.5", "2.5"), ("true", "true (a boolean)"),
    ("0%", '"0%" (a string)'), ("101%", '"101%" (a string)'), ('"3"', '"3" (a string)'),
    ("ten", '"ten" (a string)'),
])
def test_max_failures_refused(problems: Callable[..., list[str]], text: str,
                              shown: str) -> None:
    assert problems(f"version: 1\nmax_failures: {text}\n" + TASK) == [
        f"2:15: max_failures: {FAILURES} {shown}"]


@pytest.mark.parametrize(("text", "value"), [
    ("~", None), ("null", None), ("", None), ("true", True), ("False", False), ("42", 42),
    ("-7", -7), ("+3", 3), ("0", 0), ("0x1F", 31), ("0o17", 15), ("1.5", 1.5), (".5", 0.5),
    ("1e3", 1000.0), (".inf", math.inf), ("-.Inf", -math.inf), ("y", "y"), ("n", "n"),
    ("hello", "hello"), ("1.2.3", "1.2.3"), ("10%", "10%"), ("30s", "30s"),
])
def test_plain_scalars_resolve_as_yaml_1_2(text: str, value: Any) -> None:
    assert resolve_plain(text) == (value, None)


@pytest.mark.parametrize("text", ["no", "No", "NO", "yes", "on", "Off", "1:30", "-1:30:00",
                                  "0755", "-0755", "08", "00", "1_000", "0_1.5"])
def test_yaml_1_1_lookalikes_are_ambiguous(text: str) -> None:
    value, problem = resolve_plain(text)
    assert value == text and problem is not None and "ambiguous" in problem


def test_quoted_lookalikes_are_plain_strings(job: Callable[..., Job]) -> None:
    loaded = job(VALID + "    args: ['no', \"1:30\", '0755', y, n, 'on']\n")
    assert first_args(loaded) == ["no", "1:30", "0755", "y", "n", "on"]


MALFORMED = ("`${` starts a variable: write ${NAME} or ${NAME:-default}, or $${ for a "
             "literal ${")
ENV = {"N": "42", "WORD": "job", "EMPTY": "", "B": "no", "Z": "0755", "T": "true",
       "LIST": "[1, 2]", "HASH": "a # c"}


@pytest.mark.parametrize(("item", "value"), [
    ("${WORD}", "job"),
    ("${N}", 42),
    ("'${N}'", "42"),
    ('"${N}"', "42"),
    ("${N}x", "42x"),
    ("${T}", True),
    ("'${T}'", "true"),
    ("${UNSET:-hello world}", "hello world"),
    ("${UNSET:-7}", 7),
    ("${EMPTY:-fallback}", "fallback"),
    ("${N:-9}", 42),
    ("${EMPTY}", None),
    ("'${EMPTY}'", ""),
    ("${UNSET:-}", None),
    ("$$HOME", "$$HOME"),
    ("'kill $$'", "kill $$"),
    ("'$${N}'", "${N}"),
    ("$$$$", "$$$$"),
    ("$N", "$N"),
    ("'$${N'", "${N"),
    ("'echo $HOME ${N}'", "echo $HOME 42"),
    ("${LIST}", "[1, 2]"),
    ("${HASH}", "a # c"),
    ("${WORD}-${N}", "job-42"),
])
def test_interpolation_then_plain_or_quoted_resolution(job: Callable[..., Job], item: str,
                                                       value: Any) -> None:
    loaded = job(VALID + f"    args:\n      - {item}\n", environ=ENV)
    assert first_args(loaded) == [value]


@pytest.mark.parametrize(("item", "expected"), [
    ("${UNSET}", "6:9: tasks[0].args[0]: ${UNSET} is not set in the environment; set it or "
     "write ${UNSET:-default}"),
    ("${B}", f"6:9: tasks[0].args[0]: {ambiguous_bool('no')}"),
    ("${Z}", f"6:9: tasks[0].args[0]: {ambiguous_number('0755')}"),
    ("'${N'", f"6:9: tasks[0].args[0]: {MALFORMED}"),
    ("'${N-x}'", f"6:9: tasks[0].args[0]: {MALFORMED}"),
    ("'${1}'", f"6:9: tasks[0].args[0]: {MALFORMED}"),
    ("'${#ARR[@]}'", f"6:9: tasks[0].args[0]: {MALFORMED}"),
])
def test_interpolation_errors_are_at_the_value(problems: Callable[..., list[str]], item: str,
                                               expected: str) -> None:
    assert problems(VALID + f"    args:\n      - {item}\n", environ=ENV) == [expected]


def test_every_unset_variable_is_reported(problems: Callable[..., list[str]]) -> None:
    text = "version: 1\ndescription: ${A}${B:-b}${C}\n" + TASK
    assert problems(text) == [
        "2:14: description: ${A} is not set in the environment; set it or write ${A:-default}",
        "2:14: description: ${C} is not set in the environment; set it or write ${C:-default}",
    ]


def test_a_typed_field_sees_the_interpolated_plain_value(
        job: Callable[..., Job], problems: Callable[..., list[str]]) -> None:
    assert job("version: 1\nworkers: ${W}\n" + TASK, environ={"W": "4"}).workers == 4
    assert problems("version: 1\nworkers: '${W}'\n" + TASK, environ={"W": "4"}) == [
        '2:10: workers: expected an integer, got "4" (a string); write 4 without quotes']


def test_keys_are_not_interpolated(problems: Callable[..., list[str]]) -> None:
    assert problems("version: 1\n${K}: x\n" + TASK, environ={"K": "name"})[0].startswith(
        '2:1: ${K}: unknown key "${K}"')


def test_the_process_environment_is_the_default(write: Callable[..., Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_TEST_JOB_NAME", "from-env")
    path = write("version: 1\nname: ${RUNNER_TEST_JOB_NAME}\n" + TASK)
    assert load(path).name == "from-env"
