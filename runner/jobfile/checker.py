"""The job schema as one pydantic-core validator, cached on disk.

Building the models of `spec` was most of a CLI's start-up: a core schema
generated per class, and pydantic's plugin lookup, which reads the metadata of
every installed package. So the core schema those models generate is saved
once per runner, pydantic-core, Python and model source in the user's cache
folder, with each model class and each function (all of them from `values`) by
name, and what only serialization and the JSON Schema use left out. Loaded,
its classes are either the models themselves (`runner run`: real `Job`
objects, while the models' own validators stay unbuilt) or a plain stand-in
(`runner validate`, which needs only the problems and so never imports
pydantic's model machinery). Once something has built a model's own
validator, pydantic-core uses it in place of the cached schema for that class,
to the same effect. A missing, stale or unreadable cache is rebuilt from the
models; one that cannot be written only makes the next start slower.
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
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from pydantic_core import CoreSchema, SchemaError, SchemaValidator

from runner.jobfile import values
from runner.jobfile.diagnose import Fields
from runner.version import __version__

if TYPE_CHECKING:
    from pydantic import BaseModel


class Checked:
    """What the validator of `runner validate` builds where a model would be."""

    def model_post_init(self, context: Any, /) -> None:
        """Called where a model would set up its private attributes; there are none."""


class NotCacheable(TypeError):
    """The schema holds an object the cache cannot name. A test keeps the schema of
    this pydantic free of them; under another version it only means no cache."""


@dataclass(frozen=True)
class JobChecker:
    """`validate(values)` raises the `ValidationError` that `Job.model_validate` would."""

    validate: Callable[[Any], Any]
    fields: Fields


def job_checker(*, models: bool, cache_dir: Path | None = None) -> JobChecker:
    """The cached validator, or one built from the models (and saved) when there is none.
    With `models` it builds `Job` objects, without it `Checked` stand-ins."""
    names = _MODELS if models else _STAND_INS
    path = _cache_file(cache_dir or _default_cache_dir())
    if path is not None:
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            return _checker(_decode(saved["schema"], names), saved["fields"])
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
    return _checker(_decode(encoded["schema"], names), MODEL_FIELDS)


def models_checker() -> JobChecker:
    """The models' own validator, as a library user calling `Job.model_validate` gets."""
    from runner.jobfile.spec import MODEL_FIELDS, Job

    return JobChecker(Job.model_validate, MODEL_FIELDS)


def _checker(schema: Any, fields: dict[str, Any]) -> JobChecker:
    validator = SchemaValidator(cast(CoreSchema, schema))
    return JobChecker(validator.validate_python, {k: tuple(v) for k, v in fields.items()})


class _Names(NamedTuple):
    """What the names in a saved schema stand for: a model class, and a model's default
    (all its fields at their defaults)."""

    model: Callable[[str], type]
    default: Callable[[str], Any]


def _model(name: str) -> type[BaseModel]:
    from pydantic import BaseModel

    from runner.jobfile import spec

    found = getattr(spec, name)
    assert isinstance(found, type) and issubclass(found, BaseModel)
    return found


_MODELS = _Names(_model, lambda name: _model(name).model_construct())
_STAND_INS = _Names(lambda name: Checked, lambda name: Checked())


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
        return {"$default": type(node).__name__}
    name = getattr(node, "__qualname__", "")
    if getattr(node, "__module__", None) == values.__name__ and getattr(values, name, None) is node:
        return {"$function": name}
    raise NotCacheable(f"cannot save {node!r} in the schema cache")


def _decode(node: Any, names: _Names) -> Any:
    if isinstance(node, dict):
        if len(node) == 1:
            if "$class" in node:
                return names.model(node["$class"])
            if "$default" in node:
                return names.default(node["$default"])
            if "$function" in node:
                return getattr(values, node["$function"])
        return {k: _decode(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [_decode(v, names) for v in node]
    return node


def _save(path: Path, text: str) -> None:
    """Written whole or not at all: a cache that cannot be written only makes the next
    start slower."""
    from runner.system.atomic import write_atomically  # only a cache miss writes

    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(write_atomically(path, text, mode=0o666))
