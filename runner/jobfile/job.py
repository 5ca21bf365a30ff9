"""The validated job: the plain objects a run is given.

Flow: yamlsafe (text -> values) -> checker (values -> **job**, by the schema of
`spec`) -> plan.

`spec` declares what a job file may say, as pydantic models: they are the one
source of the schema, of its JSON Schema and of every message about bad input.
Defining those models costs a start-up pydantic's whole model machinery, more
than everything else a short run does, so a run never defines them: the
checker validates with the core schema the models generated (cached on disk)
and builds these classes in their place. Each class here has the fields of the
model of the same name (a test holds them equal) and what the run asks of it.
Like the models, they are frozen and compare by value.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

    from runner.jobfile import kinds
    from runner.jobfile.values import InputAxis

_P = TypeVar("_P", bound="Part")


class Part:
    """A validated piece of a job file. The validator fills `__dict__` with the fields
    and the three slots below with what pydantic-core keeps beside them: keys beyond
    the fields (`Resources` counters), which fields the file set, and private values
    (none from the file; `Job` keeps where it came from there)."""

    __slots__ = ("__dict__", "__pydantic_extra__", "__pydantic_fields_set__",
                 "__pydantic_private__")

    def __setattr__(self, name: str, value: Any) -> None:
        raise ValueError(f"{type(self).__name__} is frozen: {name} cannot be set")

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and self.__dict__ == other.__dict__
                and self.extra == other.extra and self.private == other.private)

    __hash__ = None  # type: ignore[assignment]  # equal by value, and mutable inside

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in {**self.__dict__, **self.extra}.items())
        return f"{type(self).__name__}({shown})"

    def __getstate__(self) -> dict[str, Any]:
        return {"fields": self.__dict__, "extra": self.extra, "private": self.private}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "__dict__", dict(state["fields"]))
        object.__setattr__(self, "__pydantic_extra__", state["extra"] or None)
        object.__setattr__(self, "__pydantic_fields_set__", set())
        object.__setattr__(self, "__pydantic_private__", state["private"] or None)

    @property
    def extra(self) -> dict[str, Any]:
        """Keys beyond the declared fields (only `Resources` allows them)."""
        return getattr(self, "__pydantic_extra__", None) or {}

    @property
    def private(self) -> dict[str, Any]:
        """Values that are not the file's: `Job` keeps its source and key here."""
        return getattr(self, "__pydantic_private__", None) or {}

    @classmethod
    def of(cls: type[_P], fields: dict[str, Any], extra: dict[str, Any] | None = None,
           private: dict[str, Any] | None = None) -> _P:
        """A part with these values, as the validator would build it."""
        part = cls.__new__(cls)
        part.__setstate__({"fields": fields, "extra": extra, "private": private})
        return part

    def replace(self: _P, **changes: Any) -> _P:
        """A copy with these fields changed (parts are frozen)."""
        return type(self).of({**self.__dict__, **changes}, self.extra, self.private)

    def model_dump(self, **options: Any) -> dict[str, Any]:
        """The fields as plain values, through the model of the same name (pydantic's
        `model_dump` and its options: `mode="json"`, `exclude_defaults=True`, ...)."""
        dumped: dict[str, Any] = as_model(self).model_dump(**options)
        return dumped

    def model_copy(self: _P, *, update: dict[str, Any] | None = None) -> _P:
        """`replace`, under the name pydantic gives it."""
        return self.replace(**(update or {}))

    def with_private(self: _P, **values: Any) -> _P:
        """A copy with these private values changed (None removes one)."""
        private = {k: v for k, v in {**self.private, **values}.items() if v is not None}
        return type(self).of(self.__dict__, self.extra, private)


class Shutdown(Part):
    """What a stop does: SIGINT/SIGTERM to the runner, or on_failure stop/abort."""

    wait: bool
    cancel_pending: bool
    signal: kinds.SignalName
    grace: float


class Resources(Part):
    """Amounts a task claims of `limits`, or the limits themselves: `cpus`, `memory`
    (bytes) and any counter of the user's own (`gpu: 1`)."""

    cpus: int | None
    memory: int | None

    def amounts(self) -> dict[str, int]:
        """Every amount named, counters included, by name."""
        named = {"cpus": self.cpus, "memory": self.memory, **self.extra}
        return {name: amount for name, amount in named.items() if amount is not None}


class Admission(Part):
    """Live guards: while the machine is short, nothing new starts."""

    min_free_memory: int | None
    max_load: float | None


class FailureRule(Part):
    """Which failed attempts a rule matches: any of these statuses, exit codes (a
    death by signal N is 128+N) or exception class names (a class matches its bases)."""

    statuses: list[kinds.FailureStatus]
    exit_codes: list[int]
    exceptions: list[str]


class Need(Part):
    """A needed entry, by its name as written, whose results become variable `as`."""

    task: str
    as_: str | None


class TaskDefaults(Part):
    """Fields every task inherits unless it sets its own."""

    timeout: float | None
    retries: int
    retry_delay: float
    env: dict[str, str]
    cwd: str | None
    resources: Resources | None
    retry_on: FailureRule | None
    escalate: dict[str, float] | None


class TaskBase(Part):
    """The fields every kind of task has."""

    name: str
    foreach: dict[str, Sequence[Any] | InputAxis] | None
    timeout: float | None
    retries: int | None
    retry_delay: float | None
    env: dict[str, str] | None
    cwd: str | None
    tags: list[str]
    needs: list[str | Need] | None
    if_: kinds.Condition | None
    resources: Resources | None
    retry_on: FailureRule | None
    escalate: dict[str, float] | None


class CallTask(TaskBase):
    """A Python callable, `module:attribute`, imported in the worker."""

    call: str
    args: list[Any]
    kwargs: dict[str, Any]


class CommandTask(TaskBase):
    """A program: a list runs without a shell, a string under `/bin/sh -c`."""

    command: str | list[str]
    result: kinds.ResultFrom | None
    ok_exit_codes: list[int] | None


class DaskOptions(Part):
    """Where the dask executor runs; without `address` a local cluster is started."""

    address: str | None
    upload: bool


class Job(Part):
    """A whole job file. `source` (not a YAML field) is the file it came from."""

    version: Literal[1]
    name: str | None
    description: str | None
    executor: kinds.Executor
    workers: int | None
    mode: kinds.Mode
    start_method: kinds.StartMethod
    backlog: int | None
    max_tasks_per_worker: int | None
    on_failure: kinds.OnFailure
    max_failures: int | float
    shutdown: Shutdown
    defaults: TaskDefaults
    journal: str | None
    journal_fsync: bool
    logs: str | None
    limits: Resources
    admission: Admission
    enforce_memory: bool
    abort_on: FailureRule | None
    dask: DaskOptions
    tasks: list[CallTask | CommandTask]

    @classmethod
    def model_validate(cls, values: Any) -> Job:
        """A job from values as a job file holds them, validated by the models (a
        pydantic `ValidationError` for bad ones)."""
        from runner.jobfile.spec import Job as JobModel

        built: Job = as_parts(JobModel.model_validate(values))
        return built

    @property
    def source(self) -> Path | None:
        source: Path | None = self.private.get("source")
        return source

    @property
    def folder(self) -> Path:
        """Where relative paths and `module:attribute` imports are resolved."""
        return self.source.absolute().parent if self.source else Path.cwd()

    @property
    def job_name(self) -> str:
        if self.name:
            return self.name
        return self.source.stem if self.source else "job"

    def with_source(self, source: Path | None) -> Job:
        return self.with_private(source=source)

    @property
    def env_key(self) -> bytes | None:
        """The key of the keyed digests of `env` values in spec hashes (see `envseal`)."""
        key: bytes | None = self.private.get("env_key")
        return key

    def with_env_key(self, key: bytes) -> Job:
        return self.with_private(env_key=key)

    @property
    def has_env(self) -> bool:
        return bool(self.defaults.env) or any(task.env for task in self.tasks)


def as_model(part: Part) -> BaseModel:
    """The model of the same name holding a part's values (its parts as models too), for
    what only the models do, such as dumping."""
    from runner.jobfile import spec

    def convert(value: Any) -> Any:
        if isinstance(value, Part):
            model: type[BaseModel] = getattr(spec, type(value).__name__)
            fields = {name: convert(v) for name, v in value.__dict__.items()}
            return model.model_construct(None, **fields, **value.extra)
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    converted: BaseModel = convert(part)
    return converted


def as_parts(value: Any) -> Any:
    """What the models built, as the classes here: the same values, the same classes'
    names."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        fields = {name: as_parts(getattr(value, name)) for name in type(value).model_fields}
        part: type[Part] = globals()[type(value).__name__]
        return part.of(fields, value.__pydantic_extra__)
    if isinstance(value, list):
        return [as_parts(v) for v in value]
    if isinstance(value, dict):
        return {k: as_parts(v) for k, v in value.items()}
    return value
