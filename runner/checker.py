"""The job schema as one pydantic-core validator, cached on disk, for `runner validate`.

Building the models of `spec` is most of a CLI's start-up: pydantic's model
machinery, a core schema generated per class, and pydantic's plugin lookup,
which reads the metadata of every installed package. `runner validate` needs
the problems, not `Job` objects, so it checks files with the core schema those
models generate, saved once per runner, pydantic-core, Python and source of
`spec` in the user's cache folder. In the saved schema each model class is a
plain stand-in (a validated file becomes `Checked` objects), each function
(all of them from `values`) is its name, and what only serialization and the
JSON Schema use is left out. A missing, stale or unreadable cache is rebuilt
from the models; one that cannot be written only makes the next start slower.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic_core import CoreSchema, SchemaError, SchemaValidator

from runner import __version__, values
from runner.diagnose import Fields


class Checked:
    """What the cached validator builds where the models would build an instance."""


class NotCacheable(TypeError):
    """The schema holds an object the cache cannot name. A test keeps the schema of
    this pydantic free of them; under another version it only means no cache."""


@dataclass(frozen=True)
class JobChecker:
    """`validate(values)` raises the `ValidationError` that `Job.model_validate` would."""

    validate: Callable[[Any], Any]
    fields: Fields


def job_checker(cache_dir: Path | None = None) -> JobChecker:
    """The cached checker, or one built from the models (and saved) when there is none."""
    path = _cache_file(cache_dir or _default_cache_dir())
    if path is not None:
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            return _checker(_decode(saved["schema"]), saved["fields"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, SchemaError):
            pass  # rebuilt and saved again below
    from runner.spec import MODEL_FIELDS, Job

    try:
        encoded = {"schema": _encode(Job.__pydantic_core_schema__), "fields": MODEL_FIELDS}
    except NotCacheable:
        return JobChecker(Job.model_validate, MODEL_FIELDS)
    if path is not None:
        _save(path, json.dumps(encoded, separators=(",", ":")))
    return _checker(_decode(encoded["schema"]), MODEL_FIELDS)


def _checker(schema: Any, fields: dict[str, Any]) -> JobChecker:
    validator = SchemaValidator(cast(CoreSchema, schema))
    return JobChecker(validator.validate_python, {k: tuple(v) for k, v in fields.items()})


_SOURCES = ("spec.py", "values.py", "checker.py")


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


_UNCHECKED = frozenset({"serialization", "metadata", "post_init", "custom_init"})


def _encode(node: Any) -> Any:
    """Core schema -> JSON: model classes and `values` functions by name, model defaults
    as null (validation never reads them); serialization, metadata and the models' own
    initialisation (of their private attributes) dropped."""
    from pydantic import BaseModel

    if isinstance(node, dict):
        return {k: _encode(v) for k, v in node.items() if k not in _UNCHECKED}
    if isinstance(node, (list, tuple)):
        return [_encode(v) for v in node]
    if node is None or isinstance(node, (str, int, float, bool)):
        return node
    if isinstance(node, type) and issubclass(node, BaseModel):
        return {"$class": node.__name__}
    if isinstance(node, BaseModel):
        return None
    name = getattr(node, "__qualname__", "")
    if getattr(node, "__module__", None) == values.__name__ and getattr(values, name, None) is node:
        return {"$function": name}
    raise NotCacheable(f"cannot save {node!r} in the schema cache")


def _decode(node: Any) -> Any:
    if isinstance(node, dict):
        if len(node) == 1 and "$class" in node:
            return Checked
        if len(node) == 1 and "$function" in node:
            return getattr(values, node["$function"])
        return {k: _decode(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_decode(v) for v in node]
    return node


def _save(path: Path, text: str) -> None:
    """Written beside and renamed into place, so a reader never sees half a file."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
