"""Job file text -> plain Python values with the line and column of every node -> `Job`.

Flow: **load** (text -> values + positions) -> spec (values -> Job) -> plan.

PyYAML's composer recurses (and its C twin segfaults on deep nesting), so
values are built here from the parser's event stream with an explicit stack.
That one pass also enforces every limit a hostile or broken file could push:
size (at most limit+1 bytes are read, since FIFOs and /dev/zero lie about
their size), nesting depth, alias expansion, duplicate keys, tags, documents.
Plain scalars resolve as YAML 1.2 does; those YAML 1.1 reads differently
(`no`, `on`, `1:30`, `0755`) are errors with a hint, not silent surprises.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from runner.diagnose import Positions, describe_validation_error, format_path
from runner.errors import Diagnostic, JobFileError
from runner.spec import Job, semantic_problems


@dataclass(frozen=True)
class Limits:
    """How much a job file may ask of the loader."""

    max_bytes: int = 1 << 20
    max_depth: int = 64
    max_nodes: int = 100_000


DEFAULT_LIMITS = Limits()
_ALLOWED_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")
)
_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOAT = {".inf": float("inf"), "-.inf": float("-inf"), "+.inf": float("inf"),
                  ".nan": float("nan")}
_YAML11_BOOL = re.compile(r"y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF")
_YAML11_ONLY = re.compile(
    r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?"  # sexagesimal 1:30
    r"|[-+]?0[0-7_]+"  # octal 0755
    r"|[-+]?[0-9][0-9_]*_[0-9_]*(\.[0-9_]*)?"  # 1_000
)


def load(
    path: str | os.PathLike[str],
    *,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Job:
    """Read, parse and validate a job file; raise `JobFileError` with every problem."""
    return load_located(path, overrides=overrides, environ=environ, limits=limits)[0]


def load_located(
    path: str | os.PathLike[str],
    *,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[Job, Positions]:
    """`load`, also returning where each value of the file is (for later checks)."""
    source = Path(path)
    text = read_text(source, limits)
    values, positions, problems = parse(text, str(source), environ or os.environ, limits)
    if values is not None:
        problems += apply_overrides(values, overrides, positions)
    return validate(values, positions, problems, source), positions


def read_text(source: Path, limits: Limits = DEFAULT_LIMITS) -> str:
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
        raise JobFileError([Diagnostic(where, line, 1, "", "is not UTF-8 text")]) from None


def _fail(where: str, message: str) -> JobFileError:
    return JobFileError([Diagnostic(where, 0, 0, "", message)])


def validate(
    values: Any, positions: Positions, problems: list[Diagnostic], source: Path | None
) -> Job:
    """Values -> `Job`, with schema and semantic problems added to the loader's."""
    job = None
    found: list[Diagnostic] = []
    if values is not None:
        try:
            job = Job.model_validate(values)
        except ValidationError as exc:
            found += describe_validation_error(exc, positions)
        found += [positions.diagnostic(loc, msg) for loc, msg in semantic_problems(values)]
    already = {(p.file, p.line, p.column) for p in problems}
    problems = problems + [p for p in found if (p.file, p.line, p.column) not in already]
    if problems or job is None:
        raise JobFileError(problems)
    return job.with_source(source)


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
        builder.positions.problem_at(exc.problem_mark or exc.context_mark, "", _yaml_message(exc))
        return None, builder.positions, builder.positions.problems
    except yaml.YAMLError as exc:
        builder.positions.problem_at(None, "", f"is not valid YAML: {exc}")
        return None, builder.positions, builder.positions.problems
    return builder.result()


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    return "invalid YAML: " + ", ".join(parts) if parts else "invalid YAML"


@dataclass
class _Frame:
    """A mapping or sequence being built, with the path that leads to it."""

    value: dict[str, Any] | list[Any]
    path: tuple[str | int, ...]
    mark: yaml.Mark
    anchor: str | None
    size: int = 1
    key: str | None = None
    key_mark: yaml.Mark | None = None
    expects_key: bool = True
    merges: list[tuple[dict[str, Any], tuple[str | int, ...]]] = field(default_factory=list)
    skip: bool = False


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
        self.has_root = False
        self.root_mark: yaml.Mark | None = None
        self.aborted = False

    def result(self) -> tuple[Any, Positions, list[Diagnostic]]:
        problems = self.positions.problems
        if self.aborted:
            return None, self.positions, problems
        if self.documents == 0 or not self.has_root or self.root is None:
            self.positions.problem_at(None, "", "is empty: a job file needs at least "
                                      "`version: 1` and `tasks:`")
            return None, self.positions, problems
        if not isinstance(self.root, dict):
            self.positions.problem_at(self.root_mark, "", "the top level must be a mapping "
                                      "(key: value lines), not a " + _kind(self.root))
            return None, self.positions, problems
        return self.root, self.positions, problems

    def feed(self, event: yaml.Event) -> bool:
        """Handle one event; True stops the parse."""
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.positions.problem_at(event.start_mark, "", "has several YAML documents "
                                          "(a second `---`); a job file holds exactly one")
                self.aborted = True
                return True
        elif isinstance(event, yaml.ScalarEvent):
            return self._scalar(event)
        elif isinstance(event, yaml.AliasEvent):
            return self._alias(event)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            return self._open(event)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            return self._close()
        return False

    def _scalar(self, event: yaml.ScalarEvent) -> bool:
        if self._check_tag(event):
            return self._add(None, event.start_mark, 1, None)
        frame = self.stack[-1] if self.stack else None
        if frame is not None and isinstance(frame.value, dict) and frame.expects_key:
            frame.key, frame.key_mark, frame.expects_key = event.value, event.start_mark, False
            return self._count(1, event.start_mark)
        path = self._child_path()
        value = self._resolve(event, path)
        return self._add(value, event.start_mark, 1, event.anchor)

    def _check_tag(self, event: yaml.NodeEvent) -> bool:
        tag = getattr(event, "tag", None)
        if tag in (None, "!") or tag in _ALLOWED_TAGS:
            return False
        self.positions.problem_at(
            event.start_mark, self._path_text(),
            f"the tag {tag} is not allowed: a job file is plain data; name a Python "
            "callable with `call: module:function`")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            return False
        return True

    def _resolve(self, event: yaml.ScalarEvent, path: tuple[str | int, ...]) -> Any:
        text = self._interpolate(event.value, event.start_mark, path)
        if event.style is not None or event.tag == "tag:yaml.org,2002:str":
            return text
        return self._resolve_plain(text, event.start_mark, path)

    def _interpolate(self, text: str, mark: yaml.Mark, path: tuple[str | int, ...]) -> str:
        if "$" not in text:
            return text

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            self.positions.problem_at(mark, _format(path), f"${{{name}}} is not set in the "
                                      f"environment; set it or write ${{{name}:-default}}")
            return ""

        return _INTERPOLATION.sub(substitute, text)

    def _resolve_plain(self, text: str, mark: yaml.Mark, path: tuple[str | int, ...]) -> Any:
        value, problem = resolve_plain(text)
        if problem:
            self.positions.problem_at(mark, _format(path), problem)
        return value

    def _alias(self, event: yaml.AliasEvent) -> bool:
        if event.anchor not in self.anchors:
            self.positions.problem_at(event.start_mark, self._path_text(),
                                      f"unknown alias *{event.anchor}")
            return self._add(None, event.start_mark, 1, None)
        value, size = self.anchors[event.anchor]
        frame = self.stack[-1] if self.stack else None
        if frame is not None and isinstance(frame.value, dict) and frame.expects_key:
            self.positions.problem_at(event.start_mark, self._path_text(),
                                      "an alias cannot be a key")
            frame.key, frame.key_mark, frame.expects_key = None, event.start_mark, False
            return False
        return self._add(value, event.start_mark, size, None)

    def _open(self, event: yaml.CollectionStartEvent) -> bool:
        skip = self._check_tag(event)
        frame = self.stack[-1] if self.stack else None
        if frame is not None and isinstance(frame.value, dict) and frame.expects_key:
            self.positions.problem_at(event.start_mark, self._path_text(),
                                      "a key must be plain text, not a mapping or list")
            frame.key, frame.key_mark, frame.expects_key = None, event.start_mark, False
            skip = True
        if len(self.stack) >= self.limits.max_depth:
            self.positions.problem_at(event.start_mark, self._path_text(),
                                      f"nesting is deeper than the limit of "
                                      f"{self.limits.max_depth} levels")
            self.aborted = True
            return True
        container: dict[str, Any] | list[Any] = (
            {} if isinstance(event, yaml.MappingStartEvent) else []
        )
        path = self._child_path()
        self.stack.append(_Frame(container, path, event.start_mark, event.anchor, skip=skip))
        return self._count(1, event.start_mark)

    def _close(self) -> bool:
        frame = self.stack.pop()
        if isinstance(frame.value, dict):
            self._apply_merges(frame)
        value = None if frame.skip else frame.value
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (value, frame.size)
        return self._attach(value, frame.mark, frame.size)

    def _apply_merges(self, frame: _Frame) -> None:
        assert isinstance(frame.value, dict)
        for merged, merge_path in frame.merges:
            for key, item in merged.items():
                if key not in frame.value:
                    frame.value[key] = item
                    self.positions.alias((*frame.path, key), merge_path)

    def _add(self, value: Any, mark: yaml.Mark, size: int, anchor: str | None) -> bool:
        if anchor is not None:
            self.anchors[anchor] = (value, size)
        if self._count(size, mark):
            return True
        return self._attach(value, mark, 0)

    def _count(self, size: int, mark: yaml.Mark) -> bool:
        self.nodes += size
        if self.nodes > self.limits.max_nodes:
            self.positions.problem_at(mark, self._path_text(),
                                      f"the file expands to more than {self.limits.max_nodes} "
                                      "values (are aliases expanding too far?)")
            self.aborted = True
            return True
        return False

    def _attach(self, value: Any, mark: yaml.Mark, size: int) -> bool:
        if not self.stack:
            self.root, self.has_root, self.root_mark = value, True, mark
            return False
        parent = self.stack[-1]
        parent.size += size
        if isinstance(parent.value, list):
            self.positions.value((*parent.path, len(parent.value)), mark)
            parent.value.append(value)
            return False
        key, key_mark = parent.key, parent.key_mark
        parent.key, parent.key_mark, parent.expects_key = None, None, True
        if key is None or key_mark is None:
            return False
        path = (*parent.path, key)
        if key == "<<":
            self._merge(parent, value, path, mark)
        elif key in parent.value:
            first = self.positions.key_mark(path)
            where = f" (first at line {first[0]})" if first else ""
            self.positions.problem_at(key_mark, _format(path), f'duplicate key "{key}"{where}')
        else:
            parent.value[key] = value
            self.positions.key(path, key_mark)
            self.positions.value(path, mark)
        return False

    def _merge(self, parent: _Frame, value: Any, path: tuple[str | int, ...],
               mark: yaml.Mark) -> None:
        self.positions.value(path, mark)
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(s, dict) for s in sources):
            self.positions.problem_at(mark, _format(parent.path),
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
        return _format(self._child_path())


def resolve_plain(text: str) -> tuple[Any, str | None]:
    """A plain scalar's value as YAML 1.2's core schema reads it, and a problem if
    YAML 1.1 would read it differently (the value is then kept as the string)."""
    if text in _NULL:
        return None, None
    if text in _BOOL:
        return _BOOL[text], None
    if _YAML11_BOOL.fullmatch(text):
        return text, (f'"{text}" is ambiguous: YAML 1.1 reads it as a boolean, YAML 1.2 as a '
                      f'string; write true or false, or quote it: "{text}"')
    if _INT.fullmatch(text):
        return int(text), None
    if _YAML11_ONLY.fullmatch(text):
        return text, (f'"{text}" is ambiguous: YAML 1.1 reads it as a number (1:30 is 90, '
                      f'0755 is 493); quote it ("{text}") or write a duration like "1m30s"')
    if re.fullmatch(r"0x[0-9a-fA-F]+|0o[0-7]+", text):
        return int(text, 0), None
    if _FLOAT.fullmatch(text):
        return float(text), None
    if text.lower() in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[text.lower()], None
    return text, None


def _kind(value: object) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__)


def _format(path: tuple[str | int, ...]) -> str:
    return format_path(path)


def apply_overrides(values: dict[str, Any], overrides: Iterable[str],
                    positions: Positions) -> list[Diagnostic]:
    """`--set key.sub=value`: the value read as a plain YAML scalar, as if written in
    the file (`workers=8` is the integer 8); quote it to force a string."""
    problems = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = tuple(key.split("."))
        where = f"--set {item}"
        if not sep or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) for p in parts):
            problems.append(Diagnostic(where, 0, 0, "", "expected key=value, e.g. --set "
                                       "workers=8 or --set shutdown.grace=5s"))
            continue
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            value: Any = raw[1:-1]
        else:
            value, problem = resolve_plain(raw)
            if problem:
                problems.append(Diagnostic(where, 0, 0, format_path(parts), problem))
        target = values
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[parts[-1]] = value
        positions.override(parts, where)
    return problems
