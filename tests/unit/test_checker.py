"""The schema cache of `runner validate` (runner.jobfile.checker): written once, read back,
rebuilt when damaged, optional when it cannot be written, and never a reason to
build the models. That it finds the same problems as the models is checked on
every file of the loader tests (see conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_core import ValidationError

from runner.jobfile.checker import JobChecker, job_checker
from tests.conftest import REPO

NONSENSE = {"version": 1, "tasks": [], "workers": "many"}


def _stand_ins(folder: Path) -> JobChecker:
    return job_checker(models=False, cache_dir=folder)


def _saved(folder: Path) -> list[Path]:
    return sorted(folder.glob("job-schema-*.json"))


def test_the_schema_is_saved_once_and_read_back(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        _stand_ins(tmp_path).validate(NONSENSE)
    [saved] = _saved(tmp_path)
    text = saved.read_text()
    assert '"$function":"parse_duration"' in text and '"$class":"Job"' in text
    content = json.loads(text)
    content["schema"] = {"type": "any"}
    saved.write_text(json.dumps(content))
    _stand_ins(tmp_path).validate(NONSENSE)  # the saved schema is the one used
    assert _saved(tmp_path) == [saved]


@pytest.mark.parametrize("damage", [
    "", "{", "[]", '{"schema": {"type": "any"}}',
    '{"schema": {"type": "no such type"}, "fields": {}}',
    '{"schema": {"$function": "no_such_function"}, "fields": {}}',
])
def test_a_damaged_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    _stand_ins(tmp_path)
    [saved] = _saved(tmp_path)
    saved.write_text(damage)
    with pytest.raises(ValidationError) as caught:
        _stand_ins(tmp_path).validate(NONSENSE)
    assert {e["loc"] for e in caught.value.errors()} == {("workers",), ("tasks",)}
    assert json.loads(saved.read_text())["fields"]["Job"][0] == "version"


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValidationError):
        _stand_ins(blocker / "runner").validate(NONSENSE)
    assert _stand_ins(blocker / "runner").validate({"version": 1, "tasks": [
        {"name": "a", "command": "true"}]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.timeout(60)
def test_run_builds_jobs_from_the_cache_equal_to_the_models(tmp_path: Path) -> None:
    """In a fresh interpreter, where the models' own validators are not built (once
    built, pydantic-core would use them in place of the cached schema), every example
    job loads from the cache equal to what the models make of it."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from runner.jobfile.checker import models_checker\n"
        "from runner.jobfile.loader import load\n"
        "from runner.jobfile.spec import Job\n"
        "files = sorted(Path('jobs').glob('*.yml'))\n"
        "cached = [load(f) for f in files]\n"
        "assert sys.argv[1] == 'miss' or not Job.__pydantic_complete__, 'cache unused'\n"
        "assert cached == [load(f, checker=models_checker()) for f in files]\n"
        "print(len(files))\n"
    )
    for cache in ("miss", "hit"):
        done = subprocess.run([sys.executable, "-c", script, cache], cwd=REPO, text=True,
                              capture_output=True, timeout=60,
                              env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        assert int(done.stdout) >= 10
