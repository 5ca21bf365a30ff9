"""The models around the loader: the example jobs, names, folders, dumping."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.jobfile.job import Job
from runner.jobfile.loader import load
from runner.plan import Plan
from tests.conftest import REPO

EXAMPLES = sorted((REPO / "jobs").glob("*.yml"))


def test_there_are_example_jobs() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_job_loads_and_plans(path: Path) -> None:
    job = load(path)
    assert job.source == path and len(Plan(job)) >= len(job.tasks)


def test_the_public_api_loads(write: Callable[..., Path]) -> None:
    import runner

    loaded = runner.load(write("version: 1\ntasks: [{name: a, call: m:f}]\n"), environ={})
    assert isinstance(loaded, runner.Job)


def test_the_name_defaults_to_the_file_stem(job: Callable[..., Job]) -> None:
    loaded = job("version: 1\ntasks: [{name: a, call: m:f}]\n")
    assert (loaded.name, loaded.job_name) == (None, "job")


def test_the_folder_is_absolute_even_for_a_relative_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "j.yml").write_text("version: 1\ntasks: [{name: a, call: m:f}]\n")
    monkeypatch.chdir(tmp_path)
    loaded = load("j.yml", environ={})
    assert loaded.source == Path("j.yml")
    assert loaded.folder == tmp_path


def test_a_job_dumps_as_json_and_loads_back_the_same(job: Callable[..., Job]) -> None:
    loaded = job("version: 1\ntasks:\n"
                 "  - {name: a, call: m:f, foreach: {i: {range: [3]}, j: [x, 1]}}\n"
                 "  - {name: b, command: [ls, -l]}\n  - {name: c, command: ls}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dumped = loaded.model_dump(mode="json", exclude_defaults=True)
    assert dumped["tasks"][0]["foreach"] == {"i": {"range": [0, 3, 1]}, "j": ["x", 1]}
    assert [t.get("call") or t.get("command") for t in dumped["tasks"]] == [
        "m:f", ["ls", "-l"], "ls"]
    assert Job.model_validate(dumped).with_source(loaded.source) == loaded


def test_jobs_are_frozen(job: Callable[..., Job]) -> None:
    loaded = job("version: 1\ntasks: [{name: a, call: m:f}]\n")
    with pytest.raises(ValueError, match="frozen"):
        loaded.workers = 3
