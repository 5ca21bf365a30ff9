"""Safe YAML: job file text -> plain Python values, the line and column of every node,
and every problem found on the way.

Flow: loader (file -> text) -> **yamlsafe** (text -> values + positions) -> spec
(values -> Job) -> plan.

PyYAML's composer recurses (and its C twin segfaults on deep nesting), so
values are built here from the parser's event stream with an explicit stack.
That one pass also enforces every limit a hostile or broken text could push:
nesting depth, alias expansion, duplicate keys, tags, documents (the size
limit is the loader's, applied while reading the file). `${VAR}` is
interpolated here too, so a problem in it has the scalar's position.
Plain scalars resolve as YAML 1.2 does (see `scalars`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import yaml

from runner.errors import Diagnostic
from runner.jobfile.diagnose import Mark, Positions, format_path
from runner.jobfile.scalars import resolve_plain


class Limits(NamedTuple):
    """How much a job file may ask of the loader."""

    max_bytes: int = 1 << 20
    max_depth: int = 64
    max_nodes: int = 100_000


DEFAULT_LIMITS = Limits()
_YAML_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(
    _YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map")
)
# The last branch catches a `${` that is none of the forms, such as `${VAR-x}` or `${1}`.
# Compiled (and cached by `re`) when a scalar first holds a `$`.
_INTERPOLATION = r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{"


def parse(
    text: str, file: str, environ: Mapping[str, str], limits: Limits = DEFAULT_LIMITS
) -> tuple[Any, Positions, list[Diagnostic]]:
    """YAML text -> (values, positions, problems); values is None if unusable."""
    builder = _Builder(file, environ, limits)
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if builder.feed(event):
                break
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        builder.positions.problem_at(_mark(mark), "", _yaml_message(exc))
    except yaml.reader.ReaderError as exc:
        builder.positions.problem_at(_offset_mark(text, exc.position), "",
                                     f"contains the character #x{exc.character:04x}, which "
                                     "YAML does not allow; remove it or write it escaped")
    else:
        return builder.result()
    return None, builder.positions, builder.positions.problems


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    return "invalid YAML: " + ", ".join(parts) if parts else "invalid YAML"


def _mark(mark: Any) -> Mark:
    """A PyYAML mark (0-based, one of two classes, maybe None) as 1-based (line, column)."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _offset_mark(text: str, offset: int) -> Mark:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


class _Frame:
    """A mapping or sequence being built, with the path that leads to it."""

    __slots__ = ("anchor", "at", "expects_key", "is_key", "key", "key_at", "merges", "path",
                 "size", "value")

    def __init__(self, value: dict[str, Any] | list[Any], path: tuple[str | int, ...],
                 at: Mark, anchor: str | None, is_key: bool = False) -> None:
        self.value = value
        self.path = path
        self.at = at
        self.anchor = anchor
        self.is_key = is_key
        self.size = 1
        self.key: str | None = None
        self.key_at: Mark | None = None
        self.expects_key = True
        self.merges: list[tuple[dict[str, Any], tuple[str | int, ...]]] = []

    def take_key(self, key: str | None, at: Mark) -> None:
        """The next value belongs to `key`; None drops it (the key itself was a problem)."""
        self.key, self.key_at, self.expects_key = key, at, False


class _Builder:
    """Consumes parser events and builds values, positions and problems."""

    def __init__(self, file: str, environ: Mapping[str, str], limits: Limits) -> None:
        self.positions = Positions(file)
        self.environ = environ
        self.limits = limits
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.nodes = 0
        self.documents = 0
        self.root: Any = None
        self.root_at: Mark = (1, 1)
        self.aborted = False

    def result(self) -> tuple[Any, Positions, list[Diagnostic]]:
        problems = self.positions.problems
        if self.aborted:
            return None, self.positions, problems
        if self.root is None:
            self.positions.problem_at((1, 1), "", "is empty: a job file needs at least "
                                      "`version: 1` and `tasks:`")
            return None, self.positions, problems
        if not isinstance(self.root, dict):
            self.positions.problem_at(self.root_at, "", "the top level must be a mapping "
                                      "(key: value lines), not a " + _kind(self.root))
            return None, self.positions, problems
        return self.root, self.positions, problems

    def feed(self, event: yaml.Event) -> bool:
        """Handle one event; True stops the parse."""
        if isinstance(event, yaml.DocumentStartEvent):
            return self._document(event)
        if isinstance(event, yaml.ScalarEvent):
            return self._scalar(event)
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event)
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            return self._open(event)
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            return self._close()
        return False

    def _document(self, event: yaml.DocumentStartEvent) -> bool:
        self.documents += 1
        if self.documents == 1:
            return False
        self.positions.problem_at(_mark(event.start_mark), "", "has several YAML documents "
                                  "(a second `---`); a job file holds exactly one")
        self.aborted = True
        return True

    def _key_frame(self) -> _Frame | None:
        """The mapping waiting for a key, if the next node is one."""
        frame = self.stack[-1] if self.stack else None
        if frame is not None and isinstance(frame.value, dict) and frame.expects_key:
            return frame
        return None

    def _scalar(self, event: yaml.ScalarEvent) -> bool:
        at = _mark(event.start_mark)
        bad_tag = self._bad_tag(event.tag, at)
        frame = self._key_frame()
        if frame is not None:
            frame.take_key(None if bad_tag else event.value, at)
            frame.size += 1
            return self._count(1, at)
        if bad_tag:
            return self._add(None, at, 1, None)
        value = self._resolve(event, at, self._child_path())
        return self._add(value, at, 1, event.anchor)

    def _bad_tag(self, tag: str | None, at: Mark) -> bool:
        if tag in (None, "!") or tag in _ALLOWED_TAGS:
            return False
        shown = "!!" + tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else tag
        self.positions.problem_at(
            at, self._path_text(),
            f"the tag {shown} is not allowed: a job file is plain data; name a Python "
            "callable with `call: module:function`")
        return True

    def _resolve(self, event: yaml.ScalarEvent, at: Mark, path: tuple[str | int, ...]) -> Any:
        text = self._interpolate(event.value, at, path)
        if event.tag in ("!", _YAML_TAG + "str") or (event.style is not None and not event.tag):
            return text
        value, problem = resolve_plain(text)
        if problem:
            self.positions.problem_at(at, format_path(path), problem)
        return value

    def _interpolate(self, text: str, at: Mark, path: tuple[str | int, ...]) -> str:
        """`${VAR}`, `${VAR:-default}` (also for an empty VAR, as in the shell), and `$${`
        for a literal `${`. Everything else with a `$` is left alone, so a shell command
        keeps its `$VAR` and its `$$` (the shell's PID) for when it runs."""
        if "$" not in text:
            return text
        return re.sub(_INTERPOLATION, lambda match: self._substitute(match, at, path), text)

    def _substitute(self, match: re.Match[str], at: Mark, path: tuple[str | int, ...]) -> str:
        name, default = match.group(1), match.group(2)
        if match.group(0) == "$${":
            return "${"
        if name is None:
            self.positions.problem_at(at, format_path(path), "`${` starts a variable: write "
                                      "${NAME} or ${NAME:-default}, or $${ for a literal ${")
            return "${"
        value = self.environ.get(name)
        if default is not None and not value:
            return default
        if value is not None:
            return value
        self.positions.problem_at(at, format_path(path), f"${{{name}}} is not set in the "
                                  f"environment; set it or write ${{{name}:-default}}")
        return ""

    def _alias(self, event: yaml.AliasEvent) -> bool:
        at = _mark(event.start_mark)
        frame = self._key_frame()
        if frame is not None:
            self.positions.problem_at(at, self._path_text(), "an alias cannot be a key")
            frame.take_key(None, at)
            return False
        if event.anchor not in self.anchors:
            self.positions.problem_at(at, self._path_text(), f"unknown alias *{event.anchor}")
            return self._add(None, at, 1, None)
        value, size = self.anchors[event.anchor]
        return self._add(value, at, size, None)

    def _open(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> bool:
        at = _mark(event.start_mark)
        self._bad_tag(event.tag, at)
        frame = self._key_frame()
        if frame is not None:
            self.positions.problem_at(at, self._path_text(),
                                      "a key must be plain text, not a mapping or list")
            frame.take_key(None, at)
        if len(self.stack) >= self.limits.max_depth:
            self.positions.problem_at(at, self._path_text(), "nesting is deeper than the "
                                      f"limit of {self.limits.max_depth} levels")
            self.aborted = True
            return True
        container: dict[str, Any] | list[Any] = (
            {} if isinstance(event, yaml.MappingStartEvent) else []
        )
        path = self._child_path()
        self.stack.append(_Frame(container, path, at, event.anchor, is_key=frame is not None))
        return self._count(1, at)

    def _close(self) -> bool:
        frame = self.stack.pop()
        if isinstance(frame.value, dict):
            self._apply_merges(frame)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (frame.value, frame.size)
        if frame.is_key:
            return False
        return self._attach(frame.value, frame.at, frame.size)

    def _apply_merges(self, frame: _Frame) -> None:
        assert isinstance(frame.value, dict)
        for merged, merge_path in frame.merges:
            for key, item in merged.items():
                if key not in frame.value:
                    frame.value[key] = item
                    self.positions.alias((*frame.path, key), merge_path)

    def _add(self, value: Any, at: Mark, size: int, anchor: str | None) -> bool:
        """A finished node of `size` values (an alias counts all it expands to)."""
        if anchor is not None:
            self.anchors[anchor] = (value, size)
        if self._count(size, at):
            return True
        return self._attach(value, at, size)

    def _count(self, size: int, at: Mark) -> bool:
        self.nodes += size
        if self.nodes <= self.limits.max_nodes:
            return False
        self.positions.problem_at(at, self._path_text(), "the file expands to more than "
                                  f"{self.limits.max_nodes} values (are aliases expanding "
                                  "too far?)")
        self.aborted = True
        return True

    def _attach(self, value: Any, at: Mark, size: int) -> bool:
        if not self.stack:
            self.root, self.root_at = value, at
            return False
        parent = self.stack[-1]
        parent.size += size
        if isinstance(parent.value, list):
            self.positions.value((*parent.path, len(parent.value)), at)
            parent.value.append(value)
            return False
        key, key_at = parent.key, parent.key_at
        parent.key, parent.key_at, parent.expects_key = None, None, True
        if key is not None and key_at is not None:
            self._set(parent, key, key_at, value, at)
        return False

    def _set(self, parent: _Frame, key: str, key_at: Mark, value: Any, at: Mark) -> None:
        path = (*parent.path, key)
        if key == "<<":
            self._merge(parent, value, path, at)
        elif key in parent.value:
            first = self.positions.key_mark(path)
            where = f" (first at line {first[0]})" if first else ""
            self.positions.problem_at(key_at, format_path(path),
                                      f'duplicate key "{key}"{where}')
        else:
            assert isinstance(parent.value, dict)
            parent.value[key] = value
            self.positions.key(path, key_at)
            self.positions.value(path, at)

    def _merge(self, parent: _Frame, value: Any, path: tuple[str | int, ...], at: Mark) -> None:
        self.positions.value(path, at)
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(s, dict) for s in sources):
            self.positions.problem_at(at, format_path(parent.path),
                                      "`<<` merges a mapping or a list of mappings")
            return
        parent.merges.extend((s, path) for s in sources)

    def _child_path(self) -> tuple[str | int, ...]:
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            return (*frame.path, len(frame.value))
        return (*frame.path, frame.key if frame.key is not None else "?")

    def _path_text(self) -> str:
        return format_path(self._child_path())


def _kind(value: object) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__)
