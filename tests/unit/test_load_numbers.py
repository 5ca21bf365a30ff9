"""Numbers the runner cannot hold are validation errors at their line:col (or naming the
`--set` argument), never a traceback: huge integers, overflowing floats, and every
numeric field past its bounds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.errors import JobFileError
from runner.jobfile.loader import load
from runner.jobfile.values import shorten

Problems = Callable[..., list[str]]
TASK = "tasks:\n  - {name: a, call: m:f}\n"
BIG = "9" * 4301
TOO_LONG = "is an integer of more than 1000 digits; no field of a job file takes one that large"
DURATION = "expected a duration greater than 0 and at most 365d (31536000 seconds), got"


@pytest.mark.parametrize(("line", "expected"), [
    (f"workers: {BIG}", f'2:10: workers: "{"9" * 30}...{"9" * 10} (4301 characters)" {TOO_LONG}'),
    (f"workers: -{BIG}", f'2:10: workers: "-{"9" * 29}...{"9" * 10} (4302 characters)" {TOO_LONG}'),
    ("backlog: 0x" + "f" * 900, f'2:10: backlog: "0x{"f" * 28}...{"f" * 10} (902 characters)" '
     f"{TOO_LONG}"),
    ("workers: 100001", "2:10: workers: must be at most 100000, got 100001"),
    ("backlog: 10000001", "2:10: backlog: must be at most 10000000, got 10000001"),
    ("max_tasks_per_worker: 1000000001",
     "2:23: max_tasks_per_worker: must be at most 1000000000, got 1000000001"),
    ("defaults: {retries: 1001}", "2:21: defaults.retries: must be at most 1000, got 1001"),
    ("shutdown: {grace: 1" + "0" * 309 + "}",
     f"2:19: shutdown.grace: {DURATION} an integer of about 310 digits"),
    ("shutdown: {grace: 1e400}", '2:19: shutdown.grace: "1e400" is beyond the largest number a '
     "float holds (about 1.8e308)"),
    ("shutdown: {grace: 1.0e300}", f"2:19: shutdown.grace: {DURATION} 1e+300"),
    ("shutdown: {grace: 366d}", f'2:19: shutdown.grace: {DURATION} "366d" (a string)'),
    ("defaults: {timeout: '" + "9" * 400 + "s'}", f'2:21: defaults.timeout: {DURATION} '
     f'"{"9" * 30}...{"9" * 9}s (401 characters)" (a string)'),
])
def test_numbers_past_what_the_runner_holds_are_errors_at_their_place(
        problems: Problems, line: str, expected: str) -> None:
    assert problems(f"version: 1\n{line}\n{TASK}") == [expected]


def test_a_foreach_range_too_large_to_count_is_an_error(problems: Problems) -> None:
    text = ("version: 1\ntasks:\n  - {name: 'a{{ i }}', call: m:f, foreach: {i: {range: [0, "
            + "9" * 300 + "]}}}\n")
    assert problems(text) == ["3:44: tasks[0].foreach: this foreach expands to about 10^300 "
                              "tasks, more than the 9223372036854775807 a plan can hold"]


@pytest.mark.parametrize(("override", "expected"), [
    (f"workers={BIG}", f'workers: "{"9" * 30}...{"9" * 10} (4301 characters)" {TOO_LONG}'),
    ("shutdown.grace=1" + "0" * 309, f"shutdown.grace: {DURATION} an integer of about 310 digits"),
    ("workers=1e400", 'workers: "1e400" is beyond the largest number a float holds (about '
     "1.8e308)"),
    ("defaults.retries=5000", "defaults.retries: must be at most 1000, got 5000"),
])
def test_the_same_numbers_through_set_name_the_argument(
        problems: Problems, override: str, expected: str) -> None:
    [found] = problems(f"version: 1\n{TASK}", overrides=[override])
    assert found == f"--set {shorten(override)}: {expected}"
    assert len(found) < 300


def test_the_largest_numbers_allowed_still_load(tmp_path: Path) -> None:
    path = tmp_path / "job.yml"
    path.write_text("version: 1\nworkers: 100000\nbacklog: 10000000\nshutdown: {grace: 365d}\n"
                    f"defaults: {{retries: 1000, retry_delay: 31536000}}\n{TASK}"
                    "  - {name: b, call: m:f, args: [" + "9" * 1000 + "]}\n")
    job = load(path, environ={})
    assert (job.workers, job.shutdown.grace, job.defaults.retries) == (100000, 31536000.0, 1000)
    with pytest.raises(JobFileError):
        load(path, environ={}, overrides=["workers=100001"])


@pytest.mark.parametrize("text", ["١s", "１s", "٣٠s", "١%"])
def test_digits_other_than_ascii_are_not_numbers(problems: Problems, text: str) -> None:
    """Python's `\\d` and `float()` take Arabic-Indic and fullwidth digits; a job file does
    not: `"١s"` is refused, as `"ls"` would be."""
    field = "max_failures" if text.endswith("%") else "shutdown: {grace"
    line = f'{field}: "{text}"' if field == "max_failures" else f'{field}: "{text}"}}'
    found = problems(f"version: 1\n{line}\n{TASK}")
    assert len(found) == 1 and f'"{text}" (a string)' in found[0], found


@pytest.mark.parametrize(("value", "expected"), [
    ('"١GiB"', "expected a size like"),
    ('"４GiB"', "expected a size like"),
    ('"4 GiB"', "expected a size like"),
    ('"4gib"', "expected a size like"),
    ("-1", "expected a size like"),
    ("true", "expected a size like"),
    ('"9999999TiB"', "expected a size like"),
    (str(2**62 + 1), "expected a size like"),
])
def test_sizes_are_strict_and_bounded(problems: Problems, value: str, expected: str) -> None:
    """A size is ASCII digits and a known unit, at most 4 EiB: nothing else reads as bytes."""
    found = problems(f"version: 1\nlimits: {{memory: {value}}}\n{TASK}")
    assert len(found) == 1 and found[0].startswith("2:") and expected in found[0], found


@pytest.mark.parametrize(("claim", "expected"), [
    ("gpu: -1", "must be at least 0"),
    ("gpu: 1000000001", "must be at most 1000000000"),
    ("gpu: 1.5", "integer"),
    ('gpu: "1"', "integer"),
])
def test_counts_are_whole_numbers_within_bounds(problems: Problems, claim: str,
                                                expected: str) -> None:
    found = problems(f"version: 1\nlimits: {{{claim}}}\n{TASK}")
    assert len(found) == 1 and expected in found[0], found
