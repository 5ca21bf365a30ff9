"""The job file's schema: frozen pydantic models, the single source of the JSON Schema.

Flow: yamlsafe (YAML text -> plain values) -> **spec** (values -> `Job`) -> plan.

Every model forbids unknown keys and validates strictly: a YAML scalar that
only looks like the right type (`workers: "4"`, `workers: true`) is an error,
not a coercion, because a job file that means something other than what it
says is worse than one that fails in CI. Fields that later steps execute
(shutdown, retries, dask) are all here, so the schema is complete on its own.
Rules across fields, checked even when the schema is not met, are in `rules`.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    Tag,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from runner.template import as_text

FORMAT_VERSION = 1

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like `500ms`, `30s`, `1h30m`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(_DURATION_PATTERN, value):
        seconds = sum(
            float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(value)
        )
    else:
        raise PydanticCustomError(
            "duration",
            'expected a duration like "30s", "500ms", "1h30m" or a number of seconds, got {got}',
            {"got": show_value(value)},
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise PydanticCustomError(
            "duration_bounds",
            "expected a duration greater than 0 and finite, got {got}",
            {"got": show_value(value)},
        )
    return seconds


def parse_failure_limit(value: object) -> int | float:
    """A count (int >= 1) or a share of the tasks (`"10%"` -> 0.1)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"(\d+(?:\.\d+)?)%", value)
        if match and 0 < float(match.group(1)) <= 100:
            return float(match.group(1)) / 100
    raise PydanticCustomError(
        "failure_limit",
        'expected a count of at least 1 or a percentage like "10%", got {got}',
        {"got": show_value(value)},
    )


def parse_axis(value: object) -> Sequence[Any]:
    """A foreach axis: a list of values, or `{range: [start, stop, step]}` kept lazy."""
    if isinstance(value, list):
        return _axis_list(value)
    if isinstance(value, dict) and set(value) == {"range"}:
        return _axis_range(value["range"])
    raise PydanticCustomError(
        "axis",
        "expected a list of values or {range: [start, stop]}, got {got}",
        {"got": show_value(value)},
    )


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


def dump_axis(axis: Sequence[Any]) -> Any:
    """An axis as the job file writes it, so that a dumped job loads back the same."""
    if isinstance(axis, range):
        return {"range": [axis.start, axis.stop, axis.step]}
    return list(axis)


def axis_size(axis: Sequence[Any]) -> int:
    """How many values an axis has; `len()` overflows past sys.maxsize, this does not."""
    if isinstance(axis, range):
        return max(0, -((axis.start - axis.stop) // axis.step))
    return len(axis)


def _countable(count: int, what: str) -> None:
    """A plan's length is a Python `len()`, which cannot pass sys.maxsize."""
    if count > sys.maxsize:
        raise PydanticCustomError(
            "too_many_tasks", "{what} expands to {count} tasks, more than the {limit} a "
            "plan can hold", {"what": what, "count": count, "limit": sys.maxsize})


def task_count(foreach: dict[str, Sequence[Any]] | None) -> int:
    """How many tasks one `tasks:` entry expands to."""
    return math.prod(axis_size(axis) for axis in (foreach or {}).values())


def show_value(value: object) -> str:
    """A value as an error message quotes it, saying its type when that is the problem."""
    if isinstance(value, str):
        return f'"{value}" (a string)'
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    return repr(value)


Duration = Annotated[
    float,
    PlainValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": _DURATION_PATTERN},
            ],
            "description": 'Seconds, or a string like "500ms", "30s", "5m", "1h30m".',
        }
    ),
]
FailureLimit = Annotated[
    int | float,
    PlainValidator(parse_failure_limit),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^\d+(\.\d+)?%$"},
            ]
        }
    ),
]
ForeachAxis = Annotated[
    Sequence[Any],
    PlainValidator(parse_axis),
    PlainSerializer(dump_axis),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "minItems": 1},
                {
                    "type": "object",
                    "properties": {
                        "range": {
                            "type": "array",
                            "items": {"type": "integer"},
                            "minItems": 1,
                            "maxItems": 3,
                        }
                    },
                    "required": ["range"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
SignalName = Literal["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGKILL"]
Executor = Literal["process", "pool", "mp-pool", "dask"]
Mode = Literal["sync", "async"]
StartMethod = Literal["auto", "fork", "spawn", "forkserver"]
OnFailure = Literal["continue", "stop", "abort"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Shutdown(_Model):
    """What a stop does: SIGINT/SIGTERM to the runner, or on_failure stop/abort."""

    wait: bool = True
    cancel_pending: bool = True
    signal: SignalName = "SIGTERM"
    grace: Duration = 10.0


class TaskDefaults(_Model):
    """Fields every task inherits unless it sets its own."""

    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0)
    retry_delay: Duration = 1.0
    env: dict[EnvName, str] = {}
    cwd: str | None = None


CALL_TAG = "<call task>"
COMMAND_TAG = "<command task>"
SHELL_TAG = "<shell command>"
ARGV_TAG = "<argv command>"
TAGS = frozenset({CALL_TAG, COMMAND_TAG, SHELL_TAG, ARGV_TAG})
"""Labels pydantic puts in error paths for tagged unions; they are not YAML keys."""


def _command_kind(value: object) -> str | None:
    """Picks one branch, so `[ls, 1]` reports `command[1]` alone, not both branches."""
    if isinstance(value, str):
        return SHELL_TAG
    return ARGV_TAG if isinstance(value, list) else None


Command = Annotated[
    Annotated[str, Field(min_length=1), Tag(SHELL_TAG)]
    | Annotated[list[str], Field(min_length=1), Tag(ARGV_TAG)],
    Discriminator(
        _command_kind,
        custom_error_type="command_kind",
        custom_error_message="expected a string (run under /bin/sh -c) or a list of "
        "strings (run without a shell)",
    ),
    WithJsonSchema({
        "anyOf": [
            {"minLength": 1, "type": "string"},
            {"items": {"type": "string"}, "minItems": 1, "type": "array"},
        ]
    }),
]


class _TaskBase(_Model):
    name: str = Field(min_length=1)
    foreach: dict[Identifier, ForeachAxis] | None = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0)
    retry_delay: Duration | None = None
    env: dict[EnvName, str] | None = None
    cwd: str | None = None

    @field_validator("foreach")
    @classmethod
    def _foreach_fits(
        cls, foreach: dict[str, Sequence[Any]] | None
    ) -> dict[str, Sequence[Any]] | None:
        _countable(task_count(foreach), "this foreach")
        return foreach


class CallTask(_TaskBase):
    """A Python callable, `module:attribute`, imported in the worker."""

    call: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$")
    args: list[Any] = []
    kwargs: dict[Identifier, Any] = {}


class CommandTask(_TaskBase):
    """A program: a list runs without a shell, a string under `/bin/sh -c`."""

    command: Command


def _task_kind(value: object) -> str | None:
    """The union's branch; also asked of a built task when a `Job` is dumped."""
    if isinstance(value, (CallTask, CommandTask)):
        return CALL_TAG if isinstance(value, CallTask) else COMMAND_TAG
    if isinstance(value, dict):
        has_call, has_command = "call" in value, "command" in value
        if has_call != has_command:
            return CALL_TAG if has_call else COMMAND_TAG
    return None


Task = Annotated[
    Annotated[CallTask, Tag(CALL_TAG)] | Annotated[CommandTask, Tag(COMMAND_TAG)],
    Discriminator(
        _task_kind,
        custom_error_type="task_kind",
        custom_error_message="a task needs exactly one of `call` (a Python callable) "
        "or `command` (a program)",
    ),
]


class DaskOptions(_Model):
    """Where the dask executor runs; without `address` a local cluster is started."""

    address: str | None = None
    upload: bool = True


class Job(_Model):
    """A whole job file. `source` (not a YAML field) is the file it came from."""

    version: Literal[1]
    name: str | None = Field(default=None, min_length=1)
    description: str | None = None
    executor: Executor = "pool"
    workers: int | None = Field(default=None, ge=1)
    mode: Mode = "async"
    start_method: StartMethod = "auto"
    backlog: int | None = Field(default=None, ge=1)
    max_tasks_per_worker: int | None = Field(default=None, ge=1)
    on_failure: OnFailure = "continue"
    max_failures: FailureLimit = 1
    shutdown: Shutdown = Shutdown()
    defaults: TaskDefaults = TaskDefaults()
    journal: str | None = None
    journal_fsync: bool = False
    dask: DaskOptions = DaskOptions()
    tasks: list[Task] = Field(min_length=1)

    _source: Path | None = PrivateAttr(default=None)

    @field_validator("tasks")
    @classmethod
    def _tasks_fit(cls, tasks: list[CallTask | CommandTask]) -> list[CallTask | CommandTask]:
        _countable(sum(task_count(task.foreach) for task in tasks), "the job")
        return tasks

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def folder(self) -> Path:
        """Where relative paths and `module:attribute` imports are resolved."""
        return self._source.absolute().parent if self._source else Path.cwd()

    @property
    def job_name(self) -> str:
        if self.name:
            return self.name
        return self._source.stem if self._source else "job"

    def with_source(self, source: Path | None) -> Job:
        job = self.model_copy()
        job._source = source
        return job


TOP_LEVEL_KEYS = tuple(Job.model_fields)
