"""`{{ name }}` templates: find the names a value uses, and render it fast.

A string that is exactly one template keeps the value's type (`"{{ i }}"`
passes the int 1, not "1"); inside a longer string a value is written as text,
JSON for anything that is not a string, and quoted for where it stands when the
string is a shell command (see `shellquote`). Where only text makes sense (argv,
environment, paths) even a whole template renders as text. Rendering is compiled
once per task entry, because the plan renders every expansion of a million-task
foreach.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from runner.jobfile.shellquote import Quoter, UnsafeContext, quoters

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WHOLE = re.compile(r"\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*")

Renderer = Callable[[Mapping[str, Any]], Any]


def names_in(value: object) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every template name in a nested value, with the sub-path where it occurs."""
    if isinstance(value, str):
        for match in _TEMPLATE.finditer(value):
            yield (), match.group(1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for path, name in names_in(item):
                yield (i, *path), name
    elif isinstance(value, dict):
        for key, item in value.items():
            for path, name in names_in(item):
                yield (key, *path), name


def as_text(value: object) -> str:
    """How a value reads inside a longer string: strings as is, the rest as JSON
    (an int's JSON is its str, which is much cheaper to get)."""
    if isinstance(value, str):
        return value
    return str(value) if type(value) is int else json.dumps(value)


def compile_value(value: object, *, shell: bool = False, text: bool = False) -> Renderer:
    """A function of the template variables that renders `value`; with `text`, every
    string renders as a string (an argv item or an env value cannot be an int)."""
    if isinstance(value, str):
        return _compile_string(value, shell, text)
    if isinstance(value, list):
        parts = [compile_value(item, shell=shell, text=text) for item in value]
        if all(isinstance(p, Constant) for p in parts):
            return Constant(value)
        return lambda variables: [part(variables) for part in parts]
    if isinstance(value, dict):
        items = [(key, compile_value(item, shell=shell, text=text))
                 for key, item in value.items()]
        if all(isinstance(p, Constant) for _, p in items):
            return Constant(value)
        return lambda variables: {key: part(variables) for key, part in items}
    return Constant(value)


class Constant:
    """A value with no templates in it: rendering returns it unchanged."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __call__(self, variables: Mapping[str, Any]) -> Any:
        return self.value


def _compile_string(template: str, shell: bool, text: bool) -> Renderer:
    whole = _WHOLE.fullmatch(template)
    if whole and not (shell or text):
        name = whole.group(1)
        return lambda variables: variables[name]
    pieces = _TEMPLATE.split(template)
    if len(pieces) == 1:
        return Constant(template)
    literals, names = pieces[0::2], pieces[1::2]
    quotes: list[Quoter] = quoters(literals, names) if shell else [_identity] * len(names)
    parts = list(zip(names, quotes, literals[1:]))

    def render(variables: Mapping[str, Any]) -> str:
        out = [literals[0]]
        for name, quote, literal in parts:
            out.append(quote(as_text(variables[name])))
            out.append(literal)
        return "".join(out)

    return render


def shell_problem(command: str) -> str | None:
    """Why a template of this shell string cannot be quoted safely, or None."""
    pieces = _TEMPLATE.split(command)
    try:
        quoters(pieces[0::2], pieces[1::2])
    except UnsafeContext as exc:
        return str(exc)
    return None


def _identity(text: str) -> str:
    return text
