"""`runner validate` and `runner schema`: check job files in CI without running them.

Validation never imports job code unless asked (`--check-imports`), so it is
safe on untrusted files and fast. Output comes in three dialects: text
(`file:line:col: path: message`), JSON for tools, and GitHub workflow commands
that turn each problem into an annotation on the pull request.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import Diagnostic, ExitCode, JobFileError
from runner.jobfile.diagnose import Positions

if TYPE_CHECKING:
    from runner.jobfile.checker import JobChecker

Tasks = list[dict[str, Any]]


def validate_files(paths: list[Path], fmt: str, check_imports: bool) -> int:
    """Validate every file, print the findings, return the exit code (0 or 2)."""
    from runner.jobfile.checker import job_checker

    checker = job_checker()  # one for every file
    problems: list[Diagnostic] = []
    valid: list[tuple[Path, Tasks]] = []
    for path in paths:
        found = _problems_in(path, checker, check_imports)
        if isinstance(found, tuple):
            valid.append(found)
        else:
            problems += found
    _print(problems, valid, fmt)
    return int(ExitCode.USAGE if problems else ExitCode.OK)


def _problems_in(path: Path, checker: JobChecker,
                 check_imports: bool) -> list[Diagnostic] | tuple[Path, Tasks]:
    from runner.jobfile.loader import check

    try:
        values, positions = check(path, checker=checker)
    except JobFileError as exc:
        return exc.diagnostics
    tasks: Tasks = values["tasks"]
    if check_imports:
        missing = import_problems(tasks, path.absolute().parent, positions)
        if missing:
            return missing
    return path, tasks


def import_problems(tasks: Tasks, folder: Path, positions: Positions) -> list[Diagnostic]:
    """Import each `call:` target the way a worker would, from the job file's folder."""
    problems = []
    where = str(folder.resolve())
    with _importing_from(where):
        for index, task in enumerate(tasks):
            if "call" in task:
                message = _import_error(task["call"], where)
                if message:
                    problems.append(positions.diagnostic(("tasks", index, "call"), message))
    return problems


@contextlib.contextmanager
def _importing_from(folder: str) -> Iterator[None]:
    """Job code imported as a worker would see it, with what it prints sent to stderr
    so that `--format json` stays parseable."""
    sys.path.insert(0, folder)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.path.remove(folder)


def _forget_shadowed(module_name: str, folder: str) -> None:
    """Two job files in different folders may both have a `tasks.py`: the second must
    not get the first's from the import cache. Only a module the folder itself holds
    is forgotten (a C extension could not be imported twice)."""
    top = module_name.partition(".")[0]
    here = Path(folder)
    if not ((here / f"{top}.py").is_file() or (here / top / "__init__.py").is_file()):
        return
    loaded = sys.modules.get(top)
    file = getattr(loaded, "__file__", None)
    if loaded is None or (file is not None and Path(file).resolve().is_relative_to(here)):
        return
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]


def _import_error(target: str, folder: str) -> str | None:
    module_name, _, attribute = target.partition(":")
    _forget_shadowed(module_name, folder)
    try:
        found: object = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        return f"cannot import {module_name}: {type(exc).__name__}: {exc}"
    for part in attribute.split("."):
        if not hasattr(found, part):
            return f"{module_name} has no attribute {attribute!r}"
        found = getattr(found, part)
    if not callable(found):
        return f"{target} is a {type(found).__name__}, not a callable"
    return None


def _print(problems: list[Diagnostic], valid: list[tuple[Path, Tasks]], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({
            "valid": [str(path) for path, _ in valid],
            "problems": [p._asdict() for p in problems],
        }, indent=2))
    elif fmt == "github":
        for p in problems:
            where = f"file={_escape_property(p.file)},line={max(p.line, 1)},col={max(p.column, 1)}"
            text = f"{p.path}: {p.message}" if p.path else p.message
            print(f"::error {where},title=runner validate::{_escape(text)}")
    else:
        for p in problems:
            print(p)
        for path, tasks in valid:
            print(f"ok: {path} ({len(tasks)} task entr{'y' if len(tasks) == 1 else 'ies'})")


def _escape(text: str) -> str:
    """GitHub workflow commands need %, CR and LF escaped in the message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A property value (the file name) also needs `:` and `,` escaped."""
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def job_schema_text() -> str:
    from runner.jobfile.spec import Job

    schema = Job.model_json_schema()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/runner/runner/schemas/job.schema.json",
        **schema,
    }
    return json.dumps(schema, indent=2) + "\n"
