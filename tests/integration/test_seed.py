"""The seed tutorial's examples, run from YAML: same results, same order, same timing shape.

Timing is judged from the journal's own timestamps (do attempts overlap?),
never from wall-clock asserts, so these pass on a loaded 2-core machine.
"""

from __future__ import annotations

import itertools
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, START_METHODS, JobRunner

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def seed_runner(job_runner: JobRunner) -> JobRunner:
    shutil.copy(REPO / "jobs" / "tasks.py", job_runner.folder / "tasks.py")
    return job_runner


def _copy_job(runner: JobRunner, name: str) -> Path:
    return runner.write((REPO / "jobs" / name).read_text(), name)


def _spans(records: list[dict[str, Any]]) -> list[tuple[float, float]]:
    return sorted(
        (datetime.fromisoformat(r["started"]).timestamp(),
         datetime.fromisoformat(r["finished"]).timestamp())
        for r in records)


def _by_index(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal streams results as they complete; the plan's order is by index."""
    return sorted(records, key=lambda r: r["index"])


def _overlaps(spans: list[tuple[float, float]]) -> int:
    return sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)


@pytest.mark.parametrize("start_method", START_METHODS)
def test_demo_async_pool_gives_the_seed_results_in_order(seed_runner: JobRunner,
                                                         start_method: str) -> None:
    job = _copy_job(seed_runner, "demo.yml")
    done = seed_runner.run(job, "--set", f"start_method={start_method}")
    assert done.returncode == 0, done.stderr
    results = [line.split("→ ")[1] for line in done.stdout.splitlines() if "→" in line]
    assert results == [str(i * i) for i in range(1, 11)]
    printed = [line.strip("│ ").strip() for line in done.stdout.splitlines() if "│" in line]
    assert printed == [f"kitty{i}" for i in range(1, 11)]
    finished = done.events("task_finished")
    runner_pid = done.events("job_started")[0]["pid"]
    pids = {r["pid"] for r in finished}
    assert 1 <= len(pids) <= 4
    parents = {r["ppid"] for r in finished}
    if start_method == "forkserver":
        assert parents != {runner_pid}, "forkserver workers are children of the fork server"
    else:
        assert parents == {runner_pid}
    assert _overlaps(_spans(finished)) >= 5, "async attempts must run side by side"


def test_sync_pool_runs_one_task_at_a_time(seed_runner: JobRunner) -> None:
    job = seed_runner.write(_copy_job(seed_runner, "seed_sync_pool.yml").read_text()
                            .replace('range: [1, 11]', 'range: [1, 5]'))
    done = seed_runner.run(job)
    assert done.returncode == 0, done.stderr
    finished = done.events("task_finished")
    assert [r["result"] for r in finished] == [1, 4, 9, 16]
    assert _overlaps(_spans(finished)) == 0


@pytest.mark.parametrize("mode, overlapping", [("sync", False), ("async", True)])
def test_process_executor_gives_every_task_its_own_process(seed_runner: JobRunner, mode: str,
                                                           overlapping: bool) -> None:
    job = _copy_job(seed_runner, f"seed_process_{'serial' if mode == 'sync' else 'concurrent'}.yml")
    done = seed_runner.run(job)
    assert done.returncode == 0, done.stderr
    finished = _by_index(done.events("task_finished"))
    assert [r["result"] for r in finished] == [1, 4, 9]
    assert len({r["pid"] for r in finished}) == 3
    assert [r["process_name"] for r in finished] == ["p1", "p2", "p3"]
    assert (_overlaps(_spans(finished)) > 0) is overlapping


def test_process_names_and_parent_pids(seed_runner: JobRunner) -> None:
    done = seed_runner.run(_copy_job(seed_runner, "seed_process_names.yml"))
    assert done.returncode == 0, done.stderr
    runner_pid = done.events("job_started")[0]["pid"]
    for record in done.events("task_finished"):
        assert record["process_name"] == record["name"]
        assert record["result"]["pid"] == record["pid"]
        assert record["result"]["ppid"] == record["ppid"] == runner_pid


def test_mp_pool_reproduces_the_async_seed(seed_runner: JobRunner) -> None:
    job = seed_runner.write(_copy_job(seed_runner, "seed_mp_pool.yml").read_text()
                            .replace('range: [1, 11]', 'range: [1, 7]'))
    done = seed_runner.run(job)
    assert done.returncode == 0, done.stderr
    finished = _by_index(done.events("task_finished"))
    assert [r["result"] for r in finished] == [i * i for i in range(1, 7)]
    assert len({r["pid"] for r in finished}) <= 4
    assert _overlaps(_spans(finished)) > 0
