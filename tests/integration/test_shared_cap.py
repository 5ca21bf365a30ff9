"""`workers` is one cap on running tasks of every kind: a job that mixes callables and
commands never has more than `workers` of them running at once. Each task stamps its
own start and end (wall clock, from inside the task's process) into a file of its
own; the test counts how many of those intervals ever overlap. The `marker` fixture
proves no process outlives a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import START_METHODS, JobRunner

pytestmark = pytest.mark.timeout(180)

WORKERS = 2

TASKS = '''
import time
from pathlib import Path


def stamp(name, seconds):
    began = time.time()
    time.sleep(seconds)
    Path("stamps", name).write_text(f"{began} {time.time()}")
    return name
'''

JOB = """
version: 1
executor: {executor}
start_method: {start_method}
mode: {mode}
workers: {workers}
{extra}
tasks:
  - name: "call-{{{{ i }}}}"
    call: captasks:stamp
    args: ["call-{{{{ i }}}}", 0.5]
    foreach: {{i: {{range: [0, 6]}}}}
  - name: "cmd-{{{{ i }}}}"
    command: 's=$(date +%s.%N); sleep 0.5; echo "$s $(date +%s.%N)" > "stamps/cmd-{{{{ i }}}}"'
    foreach: {{i: {{range: [0, 6]}}}}
"""


def _most_at_once(folder: Path) -> tuple[int, int]:
    """How many stamped intervals overlapped at most, and how many there are."""
    edges: list[tuple[float, int]] = []
    files = sorted((folder / "stamps").iterdir())
    for path in files:
        began, ended = (float(word) for word in path.read_text().split())
        edges += [(began, 1), (ended, -1)]
    running = most = 0
    for _, change in sorted(edges):  # at equal times an end (-1) sorts before a start
        running += change
        most = max(most, running)
    return most, len(files)


def _run_mixed(runner: JobRunner, *, executor: str = "pool", start_method: str = "fork",
               mode: str = "async", extra: str = "") -> int:
    (runner.folder / "captasks.py").write_text(TASKS)
    (runner.folder / "stamps").mkdir()
    job = runner.write(JOB.format(executor=executor, start_method=start_method, mode=mode,
                                  workers=WORKERS, extra=extra))
    done = runner.run(job, "--quiet", timeout=120)
    assert done.returncode == 0, done.stderr
    assert {record["status"] for record in done.final().values()} == {"ok"}
    most, stamped = _most_at_once(runner.folder)
    assert stamped == 12
    return most


@pytest.mark.parametrize(("executor", "start_method"), [
    *(("pool", method) for method in START_METHODS),
    ("mp-pool", "fork"), ("mp-pool", "spawn"),
    ("process", "fork"), ("process", "forkserver"),
])
def test_a_mixed_job_never_runs_more_than_workers_tasks(
        job_runner: JobRunner, executor: str, start_method: str) -> None:
    most = _run_mixed(job_runner, executor=executor, start_method=start_method)
    assert most <= WORKERS
    assert most == WORKERS, "the tasks ran one at a time: the cap was not shared but halved"


def test_a_backlog_does_not_lift_the_cap(job_runner: JobRunner) -> None:
    assert _run_mixed(job_runner, extra="backlog: 8") <= WORKERS


def test_a_sync_mixed_job_runs_one_task_at_a_time(job_runner: JobRunner) -> None:
    assert _run_mixed(job_runner, mode="sync") == 1


def test_a_mixed_job_on_a_local_dask_cluster_keeps_the_cap(job_runner: JobRunner) -> None:
    pytest.importorskip("distributed")
    most = _run_mixed(job_runner, executor="dask", start_method="auto")
    assert most <= WORKERS
