"""The schema cache (runner.jobfile.checker): written once, read back, rebuilt when
damaged, optional when it cannot be written, and never a reason to build the
models; the classes of `runner.jobfile.job` it builds mirror the models. That it
finds the same problems and values as the models is checked on every file of the
loader tests (see conftest.py)."""

from __future__ import annotations

import ast
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic_core import ValidationError

from runner.jobfile import checker, job, spec
from runner.jobfile.checker import JobChecker, job_checker
from tests.conftest import REPO

NONSENSE = {"version": 1, "tasks": [], "workers": "many"}


def _cached(folder: Path) -> JobChecker:
    return job_checker(cache_dir=folder)


def _saved(folder: Path) -> list[Path]:
    return sorted(folder.glob("job-schema-*.json"))


def test_the_schema_is_saved_once_and_read_back(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        _cached(tmp_path).validate(NONSENSE)
    [saved] = _saved(tmp_path)
    text = saved.read_text()
    assert '"$function":"parse_duration"' in text and '"$class":"Job"' in text
    content = json.loads(text)
    content["schema"] = {"type": "any"}
    saved.write_text(json.dumps(content))
    _cached(tmp_path).validate(NONSENSE)  # the saved schema is the one used
    assert _saved(tmp_path) == [saved]


@pytest.mark.parametrize("damage", [
    "", "{", "[]", '{"schema": {"type": "any"}}',
    '{"schema": {"type": "no such type"}, "fields": {}}',
    '{"schema": {"$function": "no_such_function"}, "fields": {}}',
    '{"schema": {"$class": "Path"}, "fields": {}}',
    '{"schema": {"$default": "Shutdown", "fields": []}, "fields": {}}',
])
def test_a_damaged_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    _cached(tmp_path)
    [saved] = _saved(tmp_path)
    saved.write_text(damage)
    with pytest.raises(ValidationError) as caught:
        _cached(tmp_path).validate(NONSENSE)
    assert {e["loc"] for e in caught.value.errors()} == {("workers",), ("tasks",)}
    assert json.loads(saved.read_text())["fields"]["Job"][0] == "version"


@pytest.mark.timeout(30)
def test_a_fifo_in_place_of_the_cache_is_not_read(tmp_path: Path) -> None:
    """Opening a FIFO for reading would wait for a writer on every start."""
    _cached(tmp_path)
    [saved] = _saved(tmp_path)
    saved.unlink()
    os.mkfifo(saved)
    with pytest.raises(ValidationError):
        _cached(tmp_path).validate(NONSENSE)


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValidationError):
        _cached(blocker / "runner").validate(NONSENSE)
    assert _cached(blocker / "runner").validate({"version": 1, "tasks": [
        {"name": "a", "command": "true"}]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.timeout(60)
def test_run_builds_jobs_from_the_cache_equal_to_the_models(tmp_path: Path) -> None:
    """In a fresh interpreter, every example job loads from the cache (missing, then
    there) to the values the models make of it, without importing the models on a hit."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from runner.jobfile.loader import load\n"
        "files = sorted(Path('jobs').glob('*.yml'))\n"
        "cached = [load(f) for f in files]\n"
        "assert sys.argv[1] == 'miss' or 'pydantic.main' not in sys.modules, 'models built'\n"
        "from runner.jobfile.checker import models_checker\n"
        "assert cached == [load(f, checker=models_checker()) for f in files]\n"
        "print(len(files))\n"
    )
    for cache in ("miss", "hit"):
        done = subprocess.run([sys.executable, "-c", script, cache], cwd=REPO, text=True,
                              capture_output=True, timeout=60,
                              env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        assert int(done.stdout) >= 10


def test_every_model_has_a_class_with_its_fields() -> None:
    checked = []
    for name, model in vars(spec).items():
        if isinstance(model, type) and issubclass(model, spec.BaseModel) and \
                model.__module__ == spec.__name__ and not name.startswith("_"):
            part = getattr(job, name)
            annotated = [field for cls in reversed(part.__mro__)
                         for field in vars(cls).get("__annotations__", {})
                         if not field.startswith("_")]
            assert annotated == list(model.model_fields), name
            checked.append(name)
    assert len(checked) >= 10, checked


def test_the_parts_are_frozen_compare_by_value_and_pickle(tmp_path: Path) -> None:
    values = {"version": 1, "limits": {"gpu": 2},
              "tasks": [{"name": "a", "command": "true", "needs": [{"task": "b", "as": "x"}]}]}
    built = _cached(tmp_path).validate(values)
    assert isinstance(built, job.Job) and isinstance(built.tasks[0].needs[0], job.Need)
    assert built.limits.amounts() == {"gpu": 2} and built.shutdown.grace == 10.0
    with pytest.raises(ValueError, match="frozen"):
        built.workers = 3  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(built)) == built == _cached(tmp_path).validate(values)
    assert built.replace(workers=3) != built and built.replace(workers=3).workers == 3
    assert built.with_source(tmp_path / "j.yml").job_name == "j" and built.source is None


def test_the_public_job_keeps_the_models_methods_a_library_calls() -> None:
    import runner

    built = runner.Job.model_validate({"version": 1, "limits": {"gpu": 2},
                                       "tasks": [{"name": "a", "command": "true"}]})
    assert isinstance(built, runner.Job)
    assert built.model_dump(exclude_defaults=True) == {
        "version": 1, "limits": {"gpu": 2}, "tasks": [{"name": "a", "command": "true"}]}
    assert built.model_copy(update={"workers": 2}) == built.replace(workers=2)
    with pytest.raises(ValidationError):
        runner.Job.model_validate({"version": 1, "tasks": [{"name": "a"}]})


def test_a_schema_the_cache_cannot_name_is_still_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pydantic that put an object of its own in the schema: no cache, same classes."""
    monkeypatch.setattr(checker, "values", ModuleType("elsewhere"))  # no function named
    built = _cached(tmp_path).validate({"version": 1, "shutdown": {"grace": "1m"},
                                        "tasks": [{"name": "a", "command": "true"}]})
    assert isinstance(built, job.Job) and built.shutdown.grace == 60.0
    assert _saved(tmp_path) == []


def test_the_cache_is_named_by_every_module_the_models_take_their_fields_from() -> None:
    """A new word in a field's vocabulary (kinds) or a new bound (values) must name a new
    cache file, or runs keep validating with the old schema."""
    spec = Path(checker.__file__).with_name("spec.py")
    imported = {node.module.rsplit(".", 1)[1] + ".py"
                for node in ast.walk(ast.parse(spec.read_text()))
                if isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("runner.jobfile.")}
    assert imported >= {"kinds.py", "values.py"}
    assert imported <= set(checker._SOURCES)
