"""Job -> a lazy stream of concrete tasks: foreach expanded, templates rendered, defaults merged.

Flow: load -> spec -> **plan** -> engine.

Nothing is materialised up front: a `range` axis stays a `range`, the
cartesian product is walked like an odometer (itertools.product would copy
every axis into a tuple first), and each entry's templates are compiled once.
A million-task foreach therefore costs nothing until the engine pulls from it,
and the engine pulls only as fast as its backlog frees up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from runner.inputs import expand, sequences
from runner.jobfile import inherit
from runner.jobfile.job import CallTask, CommandTask, Job, TaskDefaults
from runner.jobfile.template import Constant, Renderer, as_text, compile_value, names_in
from runner.jobfile.values import task_count
from runner.system import envseal


class PlannedTask(NamedTuple):
    """One concrete task, ready to run. Immutable; the engine keeps run state apart."""

    index: int  # type: ignore[assignment]  # the plan position; shadows tuple.index
    id: str
    name: str
    entry: int
    call: str | None
    args: list[Any]
    kwargs: dict[str, Any]
    command: str | list[str] | None
    env: dict[str, str]
    cwd: str | None
    timeout: float | None
    retries: int
    retry_delay: float
    spec_hash: str
    values: dict[str, Any]
    """The task's foreach values by axis name ({} without foreach): its inputs, as data."""


class Span(NamedTuple):
    """Consecutive tasks of one entry, handed out without being rendered: the worker that
    runs them renders them itself from its own copy of the plan. `offset` is the first
    task's place in its entry, `first` its place in the plan; `key` and `seq` are the
    engine's numbers for it; the other `size - 1` tasks follow."""

    entry: int
    offset: int
    first: int
    size: int
    key: int
    seq: int


class Plan:
    """The tasks of a job in order; iterate it as often as needed, it holds no tasks.
    Its `job` is the one given with its glob and lines axes read (see `inputs`), and
    `notices` says which of them yielded nothing."""

    def __init__(self, job: Job) -> None:
        job, self.notices = expand(job)
        self.job = job
        folder, job_name = job.folder, job.job_name  # properties, the same for every entry
        self.key = job.env_key or envseal.ephemeral_key()
        self.entries = [Entry(job, folder, job_name, position, task, self.key)
                        for position, task in enumerate(job.tasks)]

    def __len__(self) -> int:
        return sum(entry.count for entry in self.entries)

    def __iter__(self) -> Iterator[PlannedTask]:
        index = 0
        for entry in self.entries:
            for values in entry.combinations():
                yield entry.render(index, values)
                index += 1

    def render(self, entry: int, offset: int, index: int) -> PlannedTask:
        """The task at `offset` within entry number `entry` (plan position `index`)."""
        return self.entries[entry].render_at(offset, index)

    def env_record(self) -> dict[str, Any] | None:
        """What the journal keeps of the env values, for `--resume`: per entry with an
        env, its spec hash without them and each variable's keyed digest, and which key."""
        entries = {entry.name_template: {"spec": entry.base, "env": entry.env_digests}
                   for entry in self.entries if entry.env_digests}
        return {"key": envseal.key_id(self.key), "entries": entries} if entries else None


class Cursor:
    """Walks a plan once, for the engine: the next task rendered, or a run of the next
    tasks of the current entry as a `Span` (not rendered at all)."""

    def __init__(self, plan: Plan) -> None:
        self._entries = plan.entries
        self._entry = self._offset = self._index = 0
        self._peeked: PlannedTask | None = None
        self._skip_empty()

    @property
    def done(self) -> bool:
        return self._entry >= len(self._entries)

    def peek(self) -> PlannedTask | None:
        if self._peeked is None and not self.done:
            entry = self._entries[self._entry]
            self._peeked = entry.render_at(self._offset, self._index)
        return self._peeked

    def take(self) -> PlannedTask | None:
        task = self.peek()
        if task is not None:
            self._advance(1)
        return task

    def take_span(self, limit: int, key: int, seq: int) -> Span:
        """Up to `limit` tasks from here, without leaving the current entry."""
        left = self._entries[self._entry].count - self._offset
        span = Span(self._entry, self._offset, self._index, min(limit, left), key, seq)
        self._advance(span.size)
        return span

    def _advance(self, count: int) -> None:
        self._peeked = None
        self._offset += count
        self._index += count
        self._skip_empty()

    def _skip_empty(self) -> None:
        while not self.done and self._offset >= self._entries[self._entry].count:
            self._entry += 1
            self._offset = 0


class Entry:
    """One `tasks:` item with its templates compiled and its defaults merged."""

    def __init__(self, job: Job, folder: Path, job_name: str, position: int,
                 task: CallTask | CommandTask, key: bytes) -> None:
        self.job_name = job_name
        self.name_template = task.name
        self.axes: list[tuple[str, Sequence[Any]]] = sequences(task.foreach)
        self.names = tuple(name for name, _ in self.axes)
        self.sizes = [len(axis) for _, axis in self.axes]
        self.count = task_count(task.foreach)
        self.call = task.call if isinstance(task, CallTask) else None
        self.needs = [(need, None) if isinstance(need, str) else (need.task, need.as_)
                      for need in task.needs or []]
        """Each `needs` item as (entry name as written, `as` variable or None)."""
        self._unreceived = {alias: f"{{{{ {alias} }}}}" for _, alias in self.needs if alias}
        """What an `as` variable renders as before its results exist (a dry run)."""
        self.condition = task.if_
        self.result = task.result if isinstance(task, CommandTask) else None
        self.timeout, self.retries, self.retry_delay = _limits(task, job.defaults)
        self.claims = inherit.claims(task, job.defaults)
        self.retry_on = inherit.retry_on(task, job.defaults)
        self.ok_exit_codes = frozenset(
            task.ok_exit_codes or () if isinstance(task, CommandTask) else ())
        raw = _templates(task, job.defaults)
        self.uses_index = any(name == "index" for _, name in names_in(raw))
        where = None if raw["cwd"] is None else str(folder / raw["cwd"])
        spec = {**raw, "cwd": where, "call": self.call, "timeout": self.timeout,
                "retries": self.retries, "retry_delay": self.retry_delay, "job": self.job_name}
        self.env_digests = {name: envseal.digest(key, name, value)
                            for name, value in sorted(raw["env"].items())}
        self.base = _strong({**spec, "env": sorted(raw["env"])})
        """The spec hash without the env values: what `--resume` compares to tell a
        change of env values alone from any other."""
        self.hash = _strong({**spec, "env": self.env_digests})
        self._legacy = _digest(json.dumps(spec, sort_keys=True, default=str))
        renderers: dict[int, Renderer] = {
            2: compile_value(raw["name"], text=True),
            5: compile_value(raw["args"]),
            6: compile_value(raw["kwargs"]),
            7: compile_value(raw["command"], shell=isinstance(raw["command"], str), text=True),
            8: compile_value(raw["env"], text=True),
            9: _cwd_renderer(folder, raw["cwd"]),
        }
        self._dynamic = [(position, renderer) for position, renderer in renderers.items()
                         if not isinstance(renderer, Constant)]
        self._prototype: list[Any] = [
            0, self.name_template, None, position, self.call, None, None, None, None, None,
            self.timeout, self.retries, self.retry_delay, self.hash, {}]
        for field, renderer in renderers.items():
            if isinstance(renderer, Constant):
                self._prototype[field] = renderer.value

    def combinations(self) -> Iterator[tuple[Any, ...]]:
        """The cartesian product of the axes, first axis outermost, without copying them."""
        axes = [axis for _, axis in self.axes]
        if not axes:
            yield ()
            return
        if len(axes) == 1:
            for value in axes[0]:
                yield (value,)
            return
        sizes = self.sizes
        if 0 in sizes:  # an empty glob or lines file
            return
        digits = [0] * len(axes)
        while True:
            yield tuple(axis[d] for axis, d in zip(axes, digits))
            position = len(digits) - 1
            while position >= 0:
                digits[position] += 1
                if digits[position] < sizes[position]:
                    break
                digits[position] = 0
                position -= 1
            if position < 0:
                return

    def render_at(self, offset: int, index: int,
                  received: Mapping[str, Any] | None = None) -> PlannedTask:
        """The task at `offset` in this entry's product (first axis outermost)."""
        if len(self.axes) == 1:  # most foreach have one axis: no digits to work out
            return self.render(index, (self.axes[0][1][offset],), received)
        values = []
        for size, (_, axis) in zip(reversed(self.sizes), reversed(self.axes)):
            offset, digit = divmod(offset, size)
            values.append(axis[digit])
        return self.render(index, tuple(reversed(values)), received)

    def render(self, index: int, values: tuple[Any, ...],
               received: Mapping[str, Any] | None = None) -> PlannedTask:
        """Only the fields with templates are rendered; the rest come from a prototype.
        `received`: the results passed through `as`, variables like the others but not
        part of the spec hash."""
        fields = self._prototype.copy()
        fields[0] = index
        if self.names:
            labels = ",".join([f"{name}={as_text(v)}" for name, v in zip(self.names, values)])
            fields[1] = f"{self.name_template}[{labels}]"
            fields[14] = dict(zip(self.names, values))
        if self._dynamic:
            variables = {**fields[14], "index": index, "job": self.job_name,
                         **(self._unreceived if received is None else received)}
            for position, renderer in self._dynamic:
                fields[position] = renderer(variables)
        if self.uses_index:
            fields[13] = self.spec_hash(index)
        return PlannedTask._make(fields)

    def spec_hash(self, index: int) -> str:
        return _strong(f"{self.hash}:{index}") if self.uses_index else self.hash

    def legacy_hash(self, index: int) -> str:
        """The spec hash journals written before env values were keyed hold (an unkeyed
        64-bit hash), so that they can still be resumed; computed, never written."""
        return _digest(f"{self._legacy}:{index}") if self.uses_index else self._legacy


def _limits(task: CallTask | CommandTask,
            defaults: TaskDefaults) -> tuple[float | None, int, float]:
    """Timeout, retries and retry delay: the task's own, else the job's defaults."""
    return (
        task.timeout if task.timeout is not None else defaults.timeout,
        task.retries if task.retries is not None else defaults.retries,
        task.retry_delay if task.retry_delay is not None else defaults.retry_delay,
    )


def _templates(task: CallTask | CommandTask, defaults: TaskDefaults) -> dict[str, Any]:
    """The fields that may hold templates, with defaults merged (a task's env wins)."""
    return {
        "name": task.name,
        "args": task.args if isinstance(task, CallTask) else [],
        "kwargs": task.kwargs if isinstance(task, CallTask) else {},
        "command": task.command if isinstance(task, CommandTask) else None,
        "env": {**defaults.env, **(task.env or {})},
        "cwd": task.cwd if task.cwd is not None else defaults.cwd,
    }


def _cwd_renderer(folder: Path, cwd: str | None) -> Renderer:
    """The task's working directory, rendered first, then resolved against the job
    file's folder (so `cwd: "{{ d }}"` with an absolute d stays absolute)."""
    if cwd is None:
        return Constant(None)
    render = compile_value(cwd, text=True)
    if isinstance(render, Constant):
        return Constant(str(folder / cwd))
    return lambda variables: str(folder / render(variables))


def _strong(spec: object) -> str:
    """SHA-256 of a spec (JSON, keys sorted) or of a text."""
    text = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
