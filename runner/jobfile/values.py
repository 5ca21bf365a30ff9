"""Job-file values that YAML cannot type: durations, failure limits, foreach axes,
and which branch of a union a value belongs to.

Flow: yamlsafe (text -> values) -> spec (values -> `Job`), whose models call these
parsers. They live apart from the models, importing nothing of pydantic but its
core, because `runner validate` checks files with a cached pydantic-core validator
(`checker`) that calls them without building a single model class.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic_core import PydanticCustomError

from runner.jobfile.template import as_text

_DURATION_PART = r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)"  # patterns: compiled when first used
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"
FAILURE_SHARE_PATTERN = r"^[0-9]+(\.[0-9]+)?%$"
SIZE_PATTERN = r"^[0-9]+(\.[0-9]+)?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"
_SIZE_PARTS = r"([0-9]+(?:\.[0-9]+)?)(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)"
_SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
MAX_BYTES = 2**62
"""The largest size a job file may write: far past any machine, and still an int that
`RLIMIT_AS` and psutil's counters hold."""
MAX_COUNT = 1_000_000_000
"""The largest amount of a counter (`cpus`, `gpu`, ...) a claim or a limit may name."""
MAX_SECONDS = 365 * 86400.0
"""The longest duration a job file may ask for: timers and retry delays stay far from
where clocks and `select` overflow, and a year is past any task's honest need."""
MAX_RETRIES = 1000
"""Retries a task may have: its doubling delay stays a number a float holds."""
SHOWN_CHARS = 60


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like `500ms`, `30s`, `1h30m`; greater than 0,
    finite and at most `MAX_SECONDS`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value if isinstance(value, float) else _int_seconds(value)
    elif isinstance(value, str) and re.fullmatch(DURATION_PATTERN, value):
        seconds = sum(
            float(n) * _DURATION_UNITS[u] for n, u in re.findall(_DURATION_PART, value)
        )
    else:
        raise PydanticCustomError(
            "duration",
            'expected a duration like "30s", "500ms", "1h30m" or a number of seconds, '
            "got {got}{hint}", {"got": show_value(value), "hint": _duration_hint(value)})
    if not 0 < seconds <= MAX_SECONDS:  # also NaN and infinity
        raise PydanticCustomError(
            "duration_bounds",
            "expected a duration greater than 0 and at most 365d ({limit} seconds), got {got}",
            {"got": show_value(value), "limit": int(MAX_SECONDS)})
    return seconds


def _duration_hint(value: object) -> str:
    """For a quoted number, the two ways to write it that load."""
    text = value.strip() if isinstance(value, str) else ""
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return f'; write {text} without quotes, or "{text}s"'
    return ""


def _int_seconds(value: int) -> float:
    """An int as seconds; one too large for a float is infinite (and so refused)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def parse_size(value: object) -> int:
    """Bytes from an integer or a string like `512MiB`, `4GiB`, `1.5GB`; at most
    `MAX_BYTES`."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_BYTES:
        return value
    match = re.fullmatch(_SIZE_PARTS, value) if isinstance(value, str) else None
    if match:
        size = int(float(match[1]) * _SIZE_UNITS[match[2]])
        if size <= MAX_BYTES:
            return size
    raise PydanticCustomError(
        "size",
        'expected a size like "512MiB", "4GiB", "1.5GB" or a number of bytes (at most 4EiB), '
        "got {got}", {"got": show_value(value)})


def parse_failure_limit(value: object) -> int | float:
    """A count (int >= 1) or a share of the tasks (`"10%"` -> 0.1)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and re.fullmatch(FAILURE_SHARE_PATTERN, value) \
            and 0 < float(value[:-1]) <= 100:
        return float(value[:-1]) / 100
    raise PydanticCustomError(
        "failure_limit",
        'expected a count of at least 1 or a percentage like "10%", got {got}',
        {"got": show_value(value)},
    )


@dataclass(frozen=True)
class InputAxis:
    """A foreach axis read from the disk when a run starts, not when the file loads:
    `glob` (the paths a pattern matches) or `lines` (the lines of a file). Checking a
    job file needs none of its data."""

    kind: Literal["glob", "lines"]
    source: str


def parse_axis(value: object) -> Sequence[Any] | InputAxis:
    """A foreach axis: a list of values, `{range: [start, stop, step]}` kept lazy, or
    `{glob: PATTERN}` / `{lines: FILE}` kept unread."""
    if isinstance(value, list):
        return _axis_list(value)
    if isinstance(value, dict) and set(value) == {"range"}:
        return _axis_range(value["range"])
    if isinstance(value, dict) and len(value) == 1 and set(value) <= {"glob", "lines"}:
        return _axis_input(*next(iter(value.items())))
    raise PydanticCustomError(
        "axis",
        "expected a list of values, {range: [start, stop]}, {glob: PATTERN} or "
        "{lines: FILE}, got {got}",
        {"got": show_value(value)},
    )


def _axis_input(kind: Literal["glob", "lines"], source: object) -> InputAxis:
    """A pattern or a file name: a non-blank string a path can hold."""
    what = "a pattern like \"in/*.jpg\"" if kind == "glob" else "a file name like \"inputs.txt\""
    if not isinstance(source, str) or not source.strip() or "\0" in source:
        raise PydanticCustomError(
            "axis_input", "{kind} takes {what} (relative to the job file's folder), got {got}",
            {"kind": kind, "what": what, "got": show_value(source)})
    return InputAxis(kind, source)


def _axis_list(values: list[Any]) -> tuple[Any, ...]:
    """Values whose texts differ, since a task's id tells its expansions apart by them."""
    if not values:
        raise PydanticCustomError("axis_empty", "a foreach list needs at least one value")
    seen: set[str] = set()
    for value in values:
        text = as_text(value)
        if text in seen:
            raise PydanticCustomError(
                "axis_duplicate", "the value {text} appears twice; every expansion of a task "
                "needs its own id, so foreach values must differ", {"text": text})
        seen.add(text)
    return tuple(values)


def _axis_range(bounds: object) -> range:
    if not (
        isinstance(bounds, list)
        and 1 <= len(bounds) <= 3
        and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
    ):
        shown = as_text(bounds) if isinstance(bounds, list) else show_value(bounds)
        raise PydanticCustomError(
            "axis_range",
            "range takes 1 to 3 integers [start, stop, step] (stop excluded), got {got}",
            {"got": shown},
        )
    if len(bounds) == 3 and bounds[2] == 0:
        raise PydanticCustomError("axis_range", "a range's step cannot be 0")
    axis = range(*bounds)
    if not axis:
        raise PydanticCustomError(
            "axis_empty", "range {bounds} is empty (the stop is excluded)",
            {"bounds": as_text(bounds)})
    return axis


def axis_size(axis: Sequence[Any] | InputAxis) -> int:
    """How many values an axis has; `len()` overflows past sys.maxsize, this does not.
    An axis not read yet counts as one: the plan checks again once it is read."""
    if isinstance(axis, InputAxis):
        return 1
    if isinstance(axis, range):
        return max(0, -((axis.start - axis.stop) // axis.step))
    return len(axis)


def countable(count: int, what: str) -> None:
    """A plan's length is a Python `len()`, which cannot pass sys.maxsize."""
    if count > sys.maxsize:
        raise PydanticCustomError(
            "too_many_tasks", "{what} expands to {count} tasks, more than the {limit} a "
            "plan can hold", {"what": what, "count": _count_text(count), "limit": sys.maxsize})


def _count_text(count: int) -> str:
    """A count as digits, or its order of magnitude once the digits stop being readable."""
    if count.bit_length() < 128:
        return str(count)
    return f"about 10^{math.floor(count.bit_length() * math.log10(2))}"


Foreach = dict[str, Sequence[Any] | InputAxis]


def task_count(foreach: Foreach | None) -> int:
    """How many tasks one `tasks:` entry expands to."""
    return math.prod(axis_size(axis) for axis in (foreach or {}).values())


def show_value(value: object) -> str:
    """A value as an error message quotes it, saying its type when that is the problem,
    and shortened when it is long (a message is one line, whatever the file holds)."""
    if isinstance(value, str):
        return f'"{shorten(value)}" (a string)'
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    if isinstance(value, int) and value.bit_length() > 4 * SHOWN_CHARS:
        return f"an integer of about {math.ceil(value.bit_length() * math.log10(2))} digits"
    return shorten(repr(value))


def shorten(text: str) -> str:
    """`text` itself, or its start and end around an ellipsis that says how long it is."""
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS // 2]}...{text[-10:]} ({len(text)} characters)"


CALL_TAG = "<call task>"
COMMAND_TAG = "<command task>"
SHELL_TAG = "<shell command>"
ARGV_TAG = "<argv command>"
NEED_NAME_TAG = "<needed entry>"
NEED_MAPPING_TAG = "<needed entry with as>"
TAGS = frozenset({CALL_TAG, COMMAND_TAG, SHELL_TAG, ARGV_TAG, NEED_NAME_TAG, NEED_MAPPING_TAG})
"""Labels pydantic puts in error paths for tagged unions; they are not YAML keys."""


def command_kind(value: object) -> str | None:
    """Picks one branch, so `[ls, 1]` reports `command[1]` alone, not both branches."""
    if isinstance(value, str):
        return SHELL_TAG
    return ARGV_TAG if isinstance(value, list) else None


def need_kind(value: object) -> str | None:
    """A `needs` item is an entry's name or a mapping `{task: NAME, as: VAR}`."""
    if isinstance(value, str):
        return NEED_NAME_TAG
    return NEED_MAPPING_TAG if isinstance(value, dict) or hasattr(value, "task") else None


def task_kind(value: object) -> str | None:
    """The union's branch, of a mapping from the file or of a built task (when a `Job`
    is dumped): duck-typed, since the validator of `checker` has no task classes."""
    if isinstance(value, dict):
        has_call, has_command = "call" in value, "command" in value
    else:
        has_call, has_command = hasattr(value, "call"), hasattr(value, "command")
    if has_call != has_command:
        return CALL_TAG if has_call else COMMAND_TAG
    return None


def foreach_fits(foreach: Foreach | None) -> Foreach | None:
    countable(task_count(foreach), "this foreach")
    return foreach


def tasks_fit(tasks: list[Any]) -> list[Any]:
    countable(sum(task_count(task.foreach) for task in tasks), "the job")
    return tasks
