"""Where a problem is, and how to say it: spec paths -> `file:line:col`, pydantic -> prose.

The loader records the line and column of every key and value under its
spec path (`('tasks', 1, 'timeout')`). Pydantic reports errors by path too,
but its paths carry labels that are not YAML keys (the task union's tags,
`[key]` for a bad mapping key); those are dropped before the lookup. Its
messages are rewritten to say what was expected, what was found, and what
to write instead.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic_core import ErrorDetails, ValidationError

from runner.errors import Diagnostic
from runner.jobfile.values import CALL_TAG, COMMAND_TAG, TAGS, show_value

Path = tuple[str | int, ...]
Mark = tuple[int, int]
Fields = dict[str, tuple[str, ...]]
"""Each model's field names by class name (`spec.MODEL_FIELDS`)."""


def format_path(path: Path) -> str:
    """`('tasks', 1, 'env', 'X')` -> `tasks[1].env.X`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Positions:
    """Line and column (1-based) of each key and value of one job file, by spec path."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Diagnostic] = []
        self._values: dict[Path, Mark] = {}
        self._keys: dict[Path, Mark] = {}
        self._overrides: dict[Path, str] = {}

    def value(self, path: Path, at: Mark) -> None:
        self._values[path] = at

    def key(self, path: Path, at: Mark) -> None:
        self._keys[path] = at

    def key_mark(self, path: Path) -> Mark | None:
        return self._keys.get(path)

    def alias(self, path: Path, target: Path) -> None:
        """A key that came from a `<<` merge is located at the merge."""
        self._values[path] = self._keys[path] = self._values[target]

    def override(self, path: Path, where: str) -> None:
        self._overrides[path] = where

    def problem_at(self, at: Mark, path: str, message: str) -> None:
        self.problems.append(Diagnostic(self.file, at[0], at[1], path, message))

    def diagnostic(self, path: Path, message: str, *, at_key: bool = False) -> Diagnostic:
        """The problem located at the deepest part of `path` the file has."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self._overrides:
                return Diagnostic(self._overrides[prefix], 0, 0, format_path(path), message)
            mark = (self._keys.get(prefix) if at_key else None) or self._values.get(prefix)
            if mark:
                return Diagnostic(self.file, mark[0], mark[1], format_path(path), message)
        return Diagnostic(self.file, 1, 1, format_path(path), message)


def describe_validation_error(exc: ValidationError, positions: Positions,
                              fields: Fields) -> list[Diagnostic]:
    return [_describe(error, positions, fields) for error in exc.errors(include_url=False)]


def _describe(error: ErrorDetails, positions: Positions, fields: Fields) -> Diagnostic:
    raw_loc = tuple(error["loc"])
    loc = tuple(p for p in raw_loc if p not in TAGS and p != "[key]")
    kind = error["type"]
    if kind == "missing":
        return positions.diagnostic(loc[:-1], f'required field "{loc[-1]}" is missing')
    if kind == "extra_forbidden":
        return positions.diagnostic(loc, _unknown_key(raw_loc, fields), at_key=True)
    if kind == "task_kind":
        typo = _kind_typo(error.get("input"), fields)
        if typo is not None:
            return positions.diagnostic((*loc, typo[0]), typo[1], at_key=True)
    return positions.diagnostic(loc, _message(error, loc), at_key="[key]" in raw_loc)


_SECTIONS = {"shutdown": "Shutdown", "defaults": "TaskDefaults", "dask": "DaskOptions"}
_TASK_MODELS = {CALL_TAG: "CallTask", COMMAND_TAG: "CommandTask"}


def _unknown_key(raw_loc: tuple[Any, ...], fields: Fields) -> str:
    key = str(raw_loc[-1])
    message = f'unknown key "{key}"'
    model = _model_at(raw_loc[:-1])
    if model == "Job" and key in fields["TaskDefaults"]:
        return message + f"; {key} is a task field: put it under `defaults:` or in a task"
    if model == "CommandTask" and key in ("args", "kwargs"):
        return message + (f"; {key} belongs to a `call:` task: a command's arguments go in "
                          "its list, e.g. command: [echo, hello]")
    if model is not None:
        names = list(fields[model])
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        if close:
            return message + f'; did you mean "{close[0]}"?'
        return message + f"; expected one of: {', '.join(names)}"
    return message


_KINDS = ("call", "command")


def _kind_typo(task: object, fields: Fields) -> tuple[str, str] | None:
    """A task with neither `call` nor `command` but a key close to one of them: that key,
    and a did-you-mean, which the union's own error cannot give."""
    if not isinstance(task, dict) or any(kind in task for kind in _KINDS):
        return None
    known = set(fields["CallTask"]) | set(fields["CommandTask"])
    for key in task:
        close = difflib.get_close_matches(str(key), _KINDS, n=1, cutoff=0.6)
        if key not in known and close:
            return str(key), (f'unknown key "{key}"; did you mean "{close[0]}"? A task needs '
                              "exactly one of `call` (a Python callable) or `command` (a "
                              "program)")
    return None


def _model_at(loc: tuple[Any, ...]) -> str | None:
    """The name of the model whose keys `loc` holds."""
    if loc == ():
        return "Job"
    if len(loc) == 1 and loc[0] in _SECTIONS:
        return _SECTIONS[loc[0]]
    if len(loc) == 3 and loc[0] == "tasks":
        return _TASK_MODELS.get(loc[2])
    return None


_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
}


def _message(error: ErrorDetails, loc: Path) -> str:
    kind, got, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {show_value(got)}{_hint(kind, got)}"
    if kind == "literal_error":
        return _literal(ctx.get("expected", ""), got)
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return f"must be at least {bound}, got {show_value(got)}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}, got {show_value(got)}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} item(s)"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return _pattern(loc, got)
    return str(error["msg"])


def _literal(expected: str, got: object) -> str:
    options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",")]
    message = f"expected one of {', '.join(options)}, got {show_value(got)}"
    if not isinstance(got, str):
        return message
    if got in options:
        return message + f"; write {got} without quotes"
    close = difflib.get_close_matches(got, options, n=1, cutoff=0.5)
    return message + f'; did you mean "{close[0]}"?' if close else message


def _pattern(loc: Path, got: object) -> str:
    if loc and loc[-1] == "call":
        return f'expected "module:function" (e.g. "tasks:square"), got {show_value(got)}'
    return ("expected a name of letters, digits and _ not starting with a digit, "
            f"got {show_value(got)}")


def _hint(kind: str, got: object) -> str:
    if (isinstance(got, str) and kind in ("int_type", "float_type")
            and got.strip().lstrip("+-").replace(".", "", 1).isdigit()):
        return f"; write {got.strip()} without quotes"
    if isinstance(got, str) and kind == "bool_type":
        return "; write true or false without quotes"
    if kind == "string_type" and isinstance(got, (int, float, bool)):
        shown = str(got).lower() if isinstance(got, bool) else str(got)
        return f'; quote it if you mean the text: "{shown}"'
    if kind == "int_type" and isinstance(got, float):
        return "; write a whole number"
    return ""
