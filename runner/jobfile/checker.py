"""The job schema as one pydantic-core validator, cached on disk.

Building the models of `spec` was most of a CLI's start-up: a core schema
generated per class, and pydantic's plugin lookup, which reads the metadata of
every installed package. So the core schema those models generate is saved
once per runner, pydantic-core, Python and model source in the user's cache
folder, with each model class and each function (all of them from `values`) by
name, and what only serialization and the JSON Schema use left out. Loaded,
its classes are the plain classes of `job` named as the models are, so that
neither `runner run` nor `runner validate` imports pydantic's model machinery.
A missing, stale or unreadable cache is rebuilt from the models; one that
cannot be written only makes the next start slower.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic_core import CoreSchema, SchemaError, SchemaValidator

from runner.jobfile import job, values
from runner.jobfile.diagnose import Fields
from runner.jobfile.job import Part
from runner.version import __version__


class NotCacheable(TypeError):
    """The schema holds an object the cache cannot name. A test keeps the schema of
    this pydantic free of them; under another version it only means no cache."""


@dataclass(frozen=True)
class JobChecker:
    """`validate(values)` raises the `ValidationError` that the models would raise."""

    validate: Callable[[Any], Any]
    fields: Fields


def job_checker(cache_dir: Path | None = None) -> JobChecker:
    """The cached validator, or one built from the models (and saved) when there is none;
    either builds the classes of `job`."""
    path = _cache_file(cache_dir or _default_cache_dir())
    if path is not None:
        try:
            saved = json.loads(_read_cache(path))
            return _checker(_decode(saved["schema"]), saved["fields"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, SchemaError):
            pass  # rebuilt and saved again below
    from runner.jobfile.spec import MODEL_FIELDS, Job

    Job.model_rebuild()  # the models defer building their schemas until asked
    try:
        encoded = {"schema": _encode(Job.__pydantic_core_schema__), "fields": MODEL_FIELDS}
    except NotCacheable:
        return models_checker()
    if path is not None:
        _save(path, json.dumps(encoded, separators=(",", ":")))
    return _checker(_decode(encoded["schema"]), MODEL_FIELDS)


def models_checker() -> JobChecker:
    """The models' own validator, what they build turned into the classes of `job`:
    what the cached one is held equal to."""
    from runner.jobfile.spec import MODEL_FIELDS

    return JobChecker(job.Job.model_validate, MODEL_FIELDS)


def _checker(schema: Any, fields: dict[str, Any]) -> JobChecker:
    validator = SchemaValidator(cast(CoreSchema, schema))
    return JobChecker(validator.validate_python, {k: tuple(v) for k, v in fields.items()})


_SOURCES = ("spec.py", "kinds.py", "values.py", "checker.py", "job.py")
"""The files whose text the cached schema is built from: the models, every module of
theirs that defines what a field takes, and the encoding."""


def _default_cache_dir() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        return Path(base) / "runner" if base else Path.home() / ".cache" / "runner"
    except (RuntimeError, KeyError):  # no home directory to be found
        return None


def _cache_file(folder: Path | None) -> Path | None:
    """Named by everything the schema depends on: runner, pydantic-core, Python and
    the source of the models and of this encoding, so that a stale schema is never read."""
    import pydantic_core

    here = Path(__file__).parent
    try:
        source = b"".join((here / name).read_bytes() for name in _SOURCES)
    except OSError:
        return None
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    key = f"{__version__}-{pydantic_core.__version__}-{python}-{zlib.crc32(source):08x}"
    return folder / f"job-schema-{key}.json" if folder else None


_UNCHECKED = frozenset({"serialization", "metadata"})


def _encode(node: Any) -> Any:
    """Core schema -> JSON: model classes and `values` functions by name, serialization
    and metadata dropped."""
    from pydantic import BaseModel

    if isinstance(node, dict):
        return {k: _encode(v) for k, v in node.items() if k not in _UNCHECKED}
    if isinstance(node, (list, tuple)):
        return [_encode(v) for v in node]
    if node is None or isinstance(node, (str, int, float, bool)):
        return node
    if isinstance(node, type) and issubclass(node, BaseModel):
        return {"$class": node.__name__}
    if isinstance(node, BaseModel) and node == type(node).model_construct():
        fields = {name: getattr(node, name) for name in type(node).model_fields}
        return {"$default": type(node).__name__, "fields": _encode(fields),
                "extra": _encode(node.__pydantic_extra__)}
    name = getattr(node, "__qualname__", "")
    if getattr(node, "__module__", None) == values.__name__ and getattr(values, name, None) is node:
        return {"$function": name}
    raise NotCacheable(f"cannot save {node!r} in the schema cache")


def _decode(node: Any) -> Any:
    """JSON -> core schema: names back to the classes of `job` and `values` functions."""
    if isinstance(node, dict):
        if "$class" in node:
            return _part(node["$class"])
        if "$default" in node:
            return _part(node["$default"]).of(_decode(node["fields"]), _decode(node["extra"]))
        if "$function" in node:
            return getattr(values, node["$function"])
        return {k: _decode(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_decode(v) for v in node]
    return node


def _part(name: str) -> type[Part]:
    found = getattr(job, name)
    if not (isinstance(found, type) and issubclass(found, Part)):
        raise TypeError(f"{name} names no class of the job")  # a damaged cache: rebuilt
    return found


def _read_cache(path: Path) -> bytes:
    """The saved schema, read only from a regular file: a FIFO put in its place must
    not hold up every start."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def _save(path: Path, text: str) -> None:
    """Written whole or not at all: a cache that cannot be written only makes the next
    start slower."""
    from runner.system.atomic import write_atomically  # only a cache miss writes

    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(write_atomically(path, text, mode=0o666))
