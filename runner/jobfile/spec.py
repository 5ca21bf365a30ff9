"""The job file's schema: frozen pydantic models, the single source of the JSON Schema.

Flow: yamlsafe (YAML text -> plain values) -> checker (values -> `Job`, by the
schema of **spec**) -> plan. A run never defines these models: `checker` caches
their core schema, which builds the plain classes of `job` in their place.

Every model forbids unknown keys and validates strictly: a YAML scalar that
only looks like the right type (`workers: "4"`, `workers: true`) is an error,
not a coercion, because a job file that means something other than what it
says is worse than one that fails in CI. Fields that later steps execute
(shutdown, retries, dask) are all here, so the schema is complete on its own.
Rules across fields, checked even when the schema is not met, are in `rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    Tag,
    WithJsonSchema,
)

from runner.jobfile.kinds import (
    Condition,
    Executor,
    FailureStatus,
    Mode,
    OnFailure,
    ResultFrom,
    SignalName,
    StartMethod,
)
from runner.jobfile.values import (
    ARGV_TAG,
    CALL_TAG,
    COMMAND_TAG,
    DURATION_PATTERN,
    FAILURE_SHARE_PATTERN,
    MAX_BYTES,
    MAX_COUNT,
    MAX_RETRIES,
    MAX_SECONDS,
    NEED_MAPPING_TAG,
    NEED_NAME_TAG,
    SHELL_TAG,
    SIZE_PATTERN,
    InputAxis,
    command_kind,
    foreach_fits,
    need_kind,
    parse_axis,
    parse_duration,
    parse_failure_limit,
    parse_size,
    task_kind,
    tasks_fit,
)


def dump_axis(axis: Sequence[Any] | InputAxis) -> Any:
    """An axis as the job file writes it, so that a dumped job loads back the same."""
    if isinstance(axis, InputAxis):
        return {axis.kind: axis.source}
    if isinstance(axis, range):
        return {"range": [axis.start, axis.stop, axis.step]}
    return list(axis)


def _input_schema(kind: str, description: str) -> dict[str, Any]:
    return {"type": "object", "properties": {kind: {"type": "string", "minLength": 1}},
            "required": [kind], "additionalProperties": False, "description": description}


Duration = Annotated[
    float,
    PlainValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SECONDS},
                {"type": "string", "pattern": DURATION_PATTERN},
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
                {"type": "string", "pattern": FAILURE_SHARE_PATTERN},
            ]
        }
    ),
]
ForeachAxis = Annotated[
    Sequence[Any] | InputAxis,
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
                _input_schema("glob", "Paths matching this pattern, relative to the job file's "
                              "folder, sorted; read when the run starts."),
                _input_schema("lines", "One value per non-empty line of this file (stripped), "
                              "relative to the job file's folder; read when the run starts."),
            ]
        }
    ),
]
Size = Annotated[
    int,
    PlainValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_BYTES},
                {"type": "string", "pattern": SIZE_PATTERN},
            ],
            "description": 'Bytes, or a string like "512MiB", "4GiB", "1.5GB".',
        }
    ),
]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
TagName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
ExceptionName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ExitCode = Annotated[int, Field(ge=0, le=255)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Model(BaseModel):
    """`defer_build`: a run validates with the cached schema of `checker`, so the models'
    own validators and serializers are built only if something asks for them."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", defer_build=True)


class Shutdown(_Model):
    """What a stop does: SIGINT/SIGTERM to the runner, or on_failure stop/abort."""

    wait: bool = True
    cancel_pending: bool = True
    signal: SignalName = "SIGTERM"
    grace: Duration = 10.0


class Resources(_Model):
    """Amounts a task claims of `limits`, or the limits themselves: `cpus`, `memory`
    (a size) and any counter of the user's own (`gpu: 1`)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[Identifier, Count] = Field(init=False)

    cpus: Count | None = None
    memory: Size | None = None


class Admission(_Model):
    """Live guards: while the machine is short, nothing new starts."""

    min_free_memory: Size | None = None
    max_load: float | None = Field(default=None, gt=0, le=1_000_000)


class FailureRule(_Model):
    """Which failed attempts a rule matches: any of these statuses, exit codes (a
    death by signal N is 128+N) or exception class names (a class matches its bases)."""

    statuses: list[FailureStatus] = []
    exit_codes: list[ExitCode] = []
    exceptions: list[ExceptionName] = []


class Need(_Model):
    """A needed entry, by its name as written, whose results become variable `as`."""

    model_config = ConfigDict(populate_by_name=True)

    task: str = Field(min_length=1)
    as_: Identifier | None = Field(default=None, alias="as")


NeedItem = Annotated[
    Annotated[str, Field(min_length=1), Tag(NEED_NAME_TAG)]
    | Annotated[Need, Tag(NEED_MAPPING_TAG)],
    Discriminator(
        need_kind,
        custom_error_type="need_kind",
        custom_error_message="expected an entry's name or {task: NAME, as: VARIABLE}",
    ),
]


class TaskDefaults(_Model):
    """Fields every task inherits unless it sets its own."""

    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0, le=MAX_RETRIES)
    retry_delay: Duration = 1.0
    env: dict[EnvName, str] = {}
    cwd: str | None = None
    resources: Resources | None = None
    retry_on: FailureRule | None = None
    escalate: dict[Identifier, Annotated[float, Field(ge=1, le=1000)]] | None = None


Command = Annotated[
    Annotated[str, Field(min_length=1), Tag(SHELL_TAG)]
    | Annotated[list[str], Field(min_length=1), Tag(ARGV_TAG)],
    Discriminator(
        command_kind,
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
    foreach: Annotated[
        dict[Identifier, ForeachAxis] | None, AfterValidator(foreach_fits)
    ] = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=MAX_RETRIES)
    retry_delay: Duration | None = None
    env: dict[EnvName, str] | None = None
    cwd: str | None = None
    tags: list[TagName] = []
    needs: list[NeedItem] | None = None
    if_: Condition | None = Field(default=None, alias="if")
    resources: Resources | None = None
    retry_on: FailureRule | None = None
    escalate: dict[Identifier, Annotated[float, Field(ge=1, le=1000)]] | None = None


class CallTask(_TaskBase):
    """A Python callable, `module:attribute`, imported in the worker."""

    call: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$")
    args: list[Any] = []
    kwargs: dict[Identifier, Any] = {}


class CommandTask(_TaskBase):
    """A program: a list runs without a shell, a string under `/bin/sh -c`."""

    command: Command
    result: ResultFrom | None = None
    ok_exit_codes: list[ExitCode] | None = Field(default=None, min_length=1)


Task = Annotated[
    Annotated[CallTask, Tag(CALL_TAG)] | Annotated[CommandTask, Tag(COMMAND_TAG)],
    Discriminator(
        task_kind,
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
    """A whole job file."""

    version: Literal[1]
    name: str | None = Field(default=None, min_length=1)
    description: str | None = None
    executor: Executor = "pool"
    workers: int | None = Field(default=None, ge=1, le=100_000)
    mode: Mode = "async"
    start_method: StartMethod = "auto"
    backlog: int | None = Field(default=None, ge=1, le=10_000_000)
    max_tasks_per_worker: int | None = Field(default=None, ge=1, le=1_000_000_000)
    on_failure: OnFailure = "continue"
    max_failures: FailureLimit = 1
    shutdown: Shutdown = Shutdown.model_construct()
    defaults: TaskDefaults = TaskDefaults.model_construct()
    journal: str | None = None
    journal_fsync: bool = False
    logs: str | None = Field(default=None, min_length=1)
    limits: Resources = Resources.model_construct()
    admission: Admission = Admission.model_construct()
    enforce_memory: bool = False
    abort_on: FailureRule | None = None
    dask: DaskOptions = DaskOptions.model_construct()
    tasks: Annotated[list[Task], Field(min_length=1), AfterValidator(tasks_fit)]


MODEL_FIELDS = {
    model.__name__: tuple(field.alias or name for name, field in model.model_fields.items())
    for model in (Job, Shutdown, TaskDefaults, DaskOptions, CallTask, CommandTask, Resources,
                  Admission, FailureRule, Need)
}
"""Field names by model, for did-you-mean on unknown keys (and the cache of `checker`)."""
