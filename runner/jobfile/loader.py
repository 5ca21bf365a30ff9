"""Job file -> `Job`: read the file, parse it safely, apply `--set`, validate.

Flow: **loader** (file -> text) -> yamlsafe (text -> values + positions) -> checker
(values -> Job) -> plan. The loader runs those steps and gathers their
problems, so that every problem of a file is reported at once, validating with
the cached schema of `checker`, which builds the plain classes of `job`.

The size limit is enforced while reading: at most limit+1 bytes are read,
since FIFOs and /dev/zero lie about their size. The module is `loader`, not
`load`, because importing a submodule sets it as an attribute of the package,
and `runner.load` must stay the public function.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_core import ValidationError

from runner.errors import Diagnostic, JobFileError
from runner.jobfile.checker import JobChecker, job_checker
from runner.jobfile.diagnose import Positions, describe_validation_error, format_path
from runner.jobfile.rules import semantic_problems
from runner.jobfile.scalars import resolve_plain
from runner.jobfile.values import shorten, show_value
from runner.jobfile.yamlsafe import DEFAULT_LIMITS, Limits, parse

if TYPE_CHECKING:
    from runner.jobfile.job import Job

_OVERRIDE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def load(
    path: str | os.PathLike[str],
    *,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    checker: JobChecker | None = None,
) -> Job:
    """Read, parse and validate a job file; raise `JobFileError` with every problem.
    `checker` defaults to the cached validator (see `checker`)."""
    source = Path(path)
    values, positions, problems = _parsed(source, overrides, environ, limits)
    job: Job = _checked(values, positions, problems, checker or job_checker())
    return job.with_source(source)


def check(
    path: str | os.PathLike[str],
    *,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    checker: JobChecker | None = None,
) -> tuple[dict[str, Any], Positions]:
    """`load` for `runner validate`: the same problems; the file's values and where
    each of them is. `checker` defaults to the cached validator."""
    values, positions, problems = _parsed(Path(path), overrides, environ, limits)
    _checked(values, positions, problems, checker or job_checker())
    assert isinstance(values, dict)
    return values, positions


def _parsed(source: Path, overrides: Iterable[str], environ: Mapping[str, str] | None,
            limits: Limits) -> tuple[Any, Positions, list[Diagnostic]]:
    text = read_text(source, limits)
    values, positions, problems = parse(
        text, str(source), os.environ if environ is None else environ, limits)
    if values is not None:
        problems += apply_overrides(values, overrides, positions)
    return values, positions, problems


def read_text(source: Path, limits: Limits = DEFAULT_LIMITS) -> str:
    """The file as text, refusing it past `limits.max_bytes` without reading further."""
    where = str(source)
    try:
        with open(source, "rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise _fail(where, "no such file") from None
    except IsADirectoryError:
        raise _fail(where, "is a directory, not a job file") from None
    except OSError as exc:
        raise _fail(where, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > limits.max_bytes:
        raise _fail(where, f"is larger than the limit of {limits.max_bytes} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise JobFileError([Diagnostic(where, line, column, "", "is not UTF-8 text")]) from None


def _fail(where: str, message: str) -> JobFileError:
    """A problem with the file as a whole, placed at 1:1 as ruff and editors expect."""
    return JobFileError([Diagnostic(where, 1, 1, "", message)])


def _checked(values: Any, positions: Positions, problems: list[Diagnostic],
             checker: JobChecker) -> Any:
    """What the checker builds of the values; or every problem, the loader's, the
    schema's and the rules', raised at once."""
    built = None
    found: list[Diagnostic] = []
    if values is not None:
        try:
            built = checker.validate(values)
        except ValidationError as exc:
            found += describe_validation_error(exc, positions, checker.fields)
        found += [positions.diagnostic(loc, msg) for loc, msg in semantic_problems(values)]
    already = {(p.file, p.line, p.column) for p in problems}
    problems = problems + [p for p in found if (p.file, p.line, p.column) not in already]
    if problems or built is None:
        raise JobFileError(problems)
    return built


def apply_overrides(values: dict[str, Any], overrides: Iterable[str],
                    positions: Positions) -> list[Diagnostic]:
    """`--set key.sub=value`: the value read as a plain YAML scalar, as if written in
    the file (`workers=8` is the integer 8); quote it to force a string."""
    problems: list[Diagnostic] = []
    for item in overrides:
        problems += _apply_override(values, item, positions)
    return problems


def _apply_override(values: dict[str, Any], item: str, positions: Positions) -> list[Diagnostic]:
    key, sep, raw = item.partition("=")
    where = f"--set {shorten(item)}"
    if not sep or not _OVERRIDE_KEY.fullmatch(key):
        return [Diagnostic(where, 0, 0, "", "expected key=value with a key of names joined by "
                           "dots, e.g. --set workers=8 or --set shutdown.grace=5s")]
    parts = tuple(key.split("."))
    problems = []
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        value: Any = raw[1:-1]
    else:
        value, problem = resolve_plain(raw)
        if problem:
            problems.append(Diagnostic(where, 0, 0, key, problem))
    target = values
    for depth, part in enumerate(parts[:-1], 1):
        current = target.setdefault(part, {})
        if not isinstance(current, dict):
            return [Diagnostic(where, 0, 0, format_path(parts[:depth]), f"is "
                               f"{show_value(current)} in the file, not a mapping, so "
                               f"{key} cannot be set")]
        target = current
    target[parts[-1]] = value
    positions.override(parts, where)
    return problems
