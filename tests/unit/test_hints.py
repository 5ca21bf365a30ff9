"""Messages that lead somewhere: every hint, applied as written, makes the file load;
misspellings of `call` and `command` get a did-you-mean; a blank task name is refused.
Problems are `line:col: path: message` (see conftest)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from runner.jobfile.job import Job

Problems = Callable[..., list[str]]
Loader = Callable[..., Job]
TASK = "tasks:\n  - name: a\n    call: m:f\n"


def _suggestions(message: str) -> list[str]:
    """Every replacement a hint offers: `write X`, `(or X)`, `quote it (X)`, `did you mean X`."""
    found = re.findall(r'write (\S+?)(?: \(or ("[^"]+")\))?(?: for| without|;|$)', message)
    offered = [text for pair in found for text in pair if text]
    offered += re.findall(r'quote it \(("[^"]+")\)', message)
    offered += re.findall(r'quote it if you mean the text: ("[^"]+")', message)
    return offered


@pytest.mark.parametrize(("key", "written", "loads_as"), [
    ("timeout", "1:30", {"90": 90.0, '"1m30s"': 90.0}),
    ("timeout", "1:30:00", {"5400": 5400.0, '"1h30m"': 5400.0}),
    ("timeout", "0755", {"755": 755.0}),
    ("timeout", "1_000", {"1000": 1000.0}),
    ("timeout", '"90"', {"90": 90.0}),
    ("retries", "08", {"8": 8}),
    ("retries", '"3"', {"3": 3}),
])
def test_each_hint_for_a_number_loads_when_applied(problems: Problems, job: Loader, key: str,
                                                   written: str, loads_as: dict[str, object]
                                                   ) -> None:
    [message] = problems(f"version: 1\n{TASK}    {key}: {written}\n")
    offered = _suggestions(message)
    numbers = [text for text in offered if not text.startswith('"') or text in loads_as]
    assert set(numbers) == set(loads_as), message
    for text in numbers:
        loaded = job(f"version: 1\n{TASK}    {key}: {text}\n")
        assert getattr(loaded.tasks[0], key) == loads_as[text]


@pytest.mark.parametrize("written", ["1:30", "0755", "yes", "08", "1_000", "12"])
def test_the_hint_for_text_loads_as_what_was_written(problems: Problems, job: Loader,
                                                    written: str) -> None:
    [message] = problems(f"version: 1\ndescription: {written}\n{TASK}")
    [quoted] = re.findall(r'quote it(?: \(|: | if you mean the text: )("[^"]+")', message)
    assert job(f"version: 1\ndescription: {quoted}\n{TASK}").description == written


def test_the_hint_for_a_boolean_loads(problems: Problems, job: Loader) -> None:
    [message] = problems(f"version: 1\nshutdown: {{wait: no}}\n{TASK}")
    assert "write true or false" in message
    assert job(f"version: 1\nshutdown: {{wait: false}}\n{TASK}").shutdown.wait is False


@pytest.mark.parametrize(("typo", "meant", "value"), [
    ("comand", "command", "ls"), ("commmand", "command", "ls"), ("Command", "command", "ls"),
    ("cmd", "command", "ls"), ("cal", "call", "m:f"), ("calll", "call", "m:f"),
])
def test_a_misspelled_call_or_command_gets_a_did_you_mean(problems: Problems, job: Loader,
                                                          typo: str, meant: str,
                                                          value: str) -> None:
    text = f"version: 1\ntasks:\n  - name: a\n    timeout: 5\n    {typo}: {value}\n"
    assert problems(text) == [
        f'5:5: tasks[0].{typo}: unknown key "{typo}"; did you mean "{meant}"? A task needs '
        "exactly one of `call` (a Python callable) or `command` (a program)"]
    assert job(text.replace(typo, meant)).tasks[0].name == "a"


def test_a_task_with_both_or_neither_kind_says_so(problems: Problems) -> None:
    both = "version: 1\ntasks:\n  - {name: a, call: m:f, command: ls}\n  - {name: b}\n"
    assert problems(both) == [
        "3:5: tasks[0]: a task needs exactly one of `call` (a Python callable) or `command` "
        "(a program)",
        "4:5: tasks[1]: a task needs exactly one of `call` (a Python callable) or `command` "
        "(a program)"]


@pytest.mark.parametrize("name", ['"   "', '"\\t"', '"\\u3000 "'])
def test_a_blank_task_name_is_refused_at_its_place(problems: Problems, name: str) -> None:
    assert problems(f"version: 1\ntasks:\n  - name: {name}\n    call: m:f\n") == [
        "3:11: tasks[0].name: is blank; a task needs a name that people can tell apart in "
        "the console and the report"]
