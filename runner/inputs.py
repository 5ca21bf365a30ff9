"""The foreach axes read from the disk, `{glob: ...}` and `{lines: ...}`: read once, when
a run's plan is built, never when a file is loaded or validated.

Flow: load -> spec -> **inputs** -> plan -> engine.

`expand` returns a job whose every axis is a sequence, so everything after it (task
counts, the engine's total, the journal, workers rendering spans from their own copy
of the job) sees the same values in the same order, however the disk changes during
the run. Values are strings: a glob's paths as the pattern spells them (relative to
the job file's folder, or absolute when the pattern is), a file's lines stripped.
"""

from __future__ import annotations

import codecs
import glob
import os
import stat
from collections.abc import Iterator, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from pydantic_core import PydanticCustomError

from runner.errors import UsageError
from runner.jobfile.job import CallTask, CommandTask, Job
from runner.jobfile.values import Foreach, InputAxis, countable, shorten, task_count

MAX_VALUE_CHARS = 4096
"""The longest line a lines file may hold as one value: a value becomes part of its
task's id, name and journal records, all read back line by line."""
MAX_LINES_BYTES = 16 * 2**20
"""The largest lines file read: past it a file is refused, not read (a FIFO or
`/dev/zero` is refused before that, being no regular file)."""
MAX_LINE_VALUES = 1_000_000
"""The most values a lines file may give: with the byte limit, what bounds the
memory its values take (about 150 MB at most)."""


def expand(job: Job) -> tuple[Job, list[str]]:
    """`job` with its glob and lines axes read, and a notice for each that yielded
    nothing (its entry has no tasks). The same job when it has none."""
    if not any(isinstance(axis, InputAxis)
               for task in job.tasks for axis in (task.foreach or {}).values()):
        return job, []
    notices: list[str] = []
    tasks = [_expand_task(job, i, task, notices) for i, task in enumerate(job.tasks)]
    _fits(_where(job), "the job", sum(task_count(task.foreach) for task in tasks))
    return job.replace(tasks=tasks), notices


def sequences(foreach: Foreach | None) -> list[tuple[str, Sequence[Any]]]:
    """A task's axes by name, once `expand` has read them all."""
    axes = list((foreach or {}).items())
    unread = [name for name, axis in axes if isinstance(axis, InputAxis)]
    if unread:
        raise TypeError(f"foreach {', '.join(unread)} not read yet: plan an expanded job")
    return axes  # type: ignore[return-value]  # narrowed by the check above


def _expand_task(job: Job, i: int, task: CallTask | CommandTask,
                 notices: list[str]) -> CallTask | CommandTask:
    if not any(isinstance(axis, InputAxis) for axis in (task.foreach or {}).values()):
        return task
    foreach: Foreach = {}
    for name, axis in (task.foreach or {}).items():
        foreach[name] = axis
        if isinstance(axis, InputAxis):
            foreach[name] = values = _read(job.folder, axis, f"{_where(job)}: tasks[{i}]."
                                           f"foreach.{name}")
            if not values:
                notices.append(f'runner: tasks[{i}] "{task.name}": {_empty(axis)}, so it '
                               "has no tasks")
    _fits(f"{_where(job)}: tasks[{i}].foreach", "this foreach", task_count(foreach))
    return task.replace(foreach=foreach)


def _where(job: Job) -> str:
    return str(job.source) if job.source else job.job_name


def _empty(axis: InputAxis) -> str:
    if axis.kind == "glob":
        return f'glob "{axis.source}" matched nothing'
    return f'lines file "{axis.source}" has no non-empty line'


def _fits(where: str, what: str, count: int) -> None:
    try:
        countable(count, what)
    except PydanticCustomError as exc:
        raise UsageError(f"{where}: {exc.message()}") from None


def _read(folder: Path, axis: InputAxis, where: str) -> tuple[str, ...]:
    if axis.kind == "glob":
        return glob_values(folder, axis.source, where)
    return line_values(folder / axis.source, axis.source, where)


def glob_values(folder: Path, pattern: str, where: str) -> tuple[str, ...]:
    """The paths `pattern` matches under `folder` (`**` spans folders), sorted, as the
    pattern spells them. A relative path that would begin with `-` is written `./-...`,
    so that no file name can pass for an option of the command it is given to."""
    found = sorted(_matches(folder, pattern))  # with two `**`, a path may come twice
    for path in found:
        _utf8(path, where, pattern)
    return tuple(f"./{path}" if path.startswith("-") else path for path, _ in groupby(found))


def _matches(folder: Path, pattern: str) -> Iterator[str]:
    """What `glob` matches, except that `**` (any depth of folders, none hidden) never
    descends through a link: two links back up a tree would make glob's walk endless.
    A trailing `**` matches everything below its folder, as `**/*` does; `**/` the
    folders, as in glob."""
    parts = pattern.split("/")
    if "**" not in parts:
        yield from glob.iglob(pattern, root_dir=folder)
        return
    at = parts.index("**")
    head = "/".join(parts[:at]) or ("/" if at else "")
    rest = "/".join(parts[at + 1:]) or "*"
    for base in glob.iglob(head, root_dir=folder) if head else [""]:
        for below in _folders(folder, base):
            if parts[at + 1:] == [""]:
                yield os.path.join(below, "")
            else:
                yield from _matches(folder, os.path.join(glob.escape(below), rest))


def _folders(folder: Path, base: str) -> Iterator[str]:
    """`base` and every folder below it not hidden, reached without following a link."""
    root = folder / base
    for path, names, _ in os.walk(root):
        names[:] = [name for name in names if not name.startswith(".")]
        below = os.path.relpath(path, root)
        yield base if below == "." else os.path.join(base, below)


def line_values(path: Path, source: str, where: str) -> tuple[str, ...]:
    """The non-empty lines of a regular file (links followed), stripped, in order; each
    value once, since a task's id tells its expansions apart by their values."""
    place = f'lines file "{source}"' + ("" if str(path) == source else f" ({path})")
    data = _read_bounded(path, f"{where}: {place}")
    try:
        lines = data.removeprefix(codecs.BOM_UTF8).decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UsageError(f"{where}: {place} line {line}: is not UTF-8 text") from None
    del data
    values: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, 1):
        value = raw.strip()
        if value:
            _check_line(value, f"{where}: {place} line {number}", len(values))
            if value in seen:
                first = next(n for n, line in enumerate(lines, 1) if line.strip() == value)
                raise UsageError(f'{where}: {place} line {number}: "{shorten(value)}" repeats '
                                 f"line {first}; every task needs its own id, so the values "
                                 "of an axis must differ")
            seen.add(value)
            values.append(value)
    return tuple(values)


def _check_line(value: str, where: str, before: int) -> None:
    """A value fit for an id, and not one too many for the runner's memory."""
    if before >= MAX_LINE_VALUES:
        raise UsageError(f"{where}: more than {MAX_LINE_VALUES:,} values; for more inputs, "
                         "use a glob or a range and read them in the task")
    if "\0" in value:
        raise UsageError(f"{where}: holds a NUL byte, which no argument can")
    if len(value) > MAX_VALUE_CHARS:
        raise UsageError(f"{where}: {len(value)} characters, more than the {MAX_VALUE_CHARS} "
                         "a value may have (it becomes part of the task's id)")


def _read_bounded(path: Path, what: str) -> bytes:
    """At most `MAX_LINES_BYTES` of a regular file; opened without blocking, so that a
    FIFO is refused instead of waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise UsageError(f"{what}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{what}: cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"{what}: is not a regular file (a folder, a FIFO or a device)")
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(MAX_LINES_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"{what}: cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_LINES_BYTES:
        raise UsageError(f"{what}: is larger than the limit of {MAX_LINES_BYTES:,} bytes; "
                         "for more inputs, use a glob or a range and read them in the task")
    return data


def _utf8(path: str, where: str, pattern: str) -> None:
    """A path becomes an argument and a journal string: its name must be UTF-8."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f'{where}: glob "{pattern}" matched a path whose name is not UTF-8: '
                         f"{shorten(ascii(path))}") from None
