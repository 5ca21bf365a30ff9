"""Glob and lines axes in real runs: read when the run starts, their values reach the
tasks (also on workers that render spans from their own copy of the job), every id is
its own, and nothing found is a run of zero tasks that says so. Every wait bounded; the
`marker` fixture (through `job_runner`) proves nothing outlives a test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import RUNNER, JobRunner

pytestmark = pytest.mark.timeout(120)

TASKS = """
import os


def size_of(path, word):
    return [path, os.path.getsize(path), word]
"""

JOB = """
version: 1
executor: {executor}
start_method: {start_method}
workers: 2
tasks:
  - name: "size-{{{{ f }}}}-{{{{ w }}}}"
    call: axis_tasks:size_of
    args: ["{{{{ f }}}}", "{{{{ w }}}}"]
    foreach:
      f: {{glob: "in/*.dat"}}
      w: {{lines: words.txt}}
  - name: "echo-{{{{ w }}}}"
    command: ["echo", "{{{{ w }}}}"]
    foreach: {{w: {{lines: words.txt}}}}
  - name: "never-{{{{ f }}}}"
    command: ["false"]
    foreach: {{f: {{glob: "missing/**/*.dat"}}}}
"""


def _write(runner: JobRunner, executor: str, start_method: str) -> Path:
    (runner.folder / "axis_tasks.py").write_text(TASKS)
    (runner.folder / "in").mkdir()
    for i, name in enumerate(["c.dat", "a.dat", "b b.dat"]):
        (runner.folder / "in" / name).write_bytes(b"x" * i)
    (runner.folder / "words.txt").write_text("alpha\n\n  beta gamma  \n")
    return runner.write(JOB.format(executor=executor, start_method=start_method))


@pytest.mark.parametrize(("executor", "start_method", "quiet"), [
    ("pool", "spawn", True),  # spans: workers render tasks from their own copy of the job
    ("pool", "forkserver", True),
    ("mp-pool", "fork", False),
    ("process", "spawn", False),
])
def test_values_reach_the_tasks(job_runner: JobRunner, executor: str, start_method: str,
                                quiet: bool) -> None:
    job = _write(job_runner, executor, start_method)
    done = job_runner.run(job, *(["--quiet"] if quiet else []))
    assert done.returncode == 0, done.stderr
    final = done.final()
    sizes = {"in/a.dat": 1, "in/b b.dat": 2, "in/c.dat": 0}
    expected = {f"size-{{{{ f }}}}-{{{{ w }}}}[f={f},w={w}]": [f, size, w]
                for f, size in sizes.items() for w in ("alpha", "beta gamma")}
    echoed = {"echo-{{ w }}[w=alpha]", "echo-{{ w }}[w=beta gamma]"}
    assert {task: record.get("result") for task, record in final.items()
            if task not in echoed} == expected
    assert {task for task in final if task in echoed} == echoed
    started = done.events("job_started")[0]
    assert started["tasks"] == 8  # counted once the axes were read
    order = [e["task"] for e in done.events("task_finished")]
    assert len(order) == len(set(order)) == 8
    assert ('runner: tasks[2] "never-{{ f }}": glob "missing/**/*.dat" matched nothing, so it '
            "has no tasks") in done.stderr


def test_validate_needs_no_data_and_a_missing_file_stops_the_run(job_runner: JobRunner) -> None:
    job = job_runner.write(JOB.format(executor="pool", start_method="auto"))
    checked = subprocess.run([RUNNER, "validate", str(job)], capture_output=True, text=True,
                             timeout=60, cwd=job_runner.folder)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    done = job_runner.run(job)
    assert done.returncode == 2
    assert done.stderr.strip() == (f'{job}: tasks[0].foreach.w: lines file "words.txt" '
                                   f"({job_runner.folder / 'words.txt'}): no such file")
    assert done.journal == []  # refused before the run began


def test_a_job_of_nothing_found_runs_zero_tasks(job_runner: JobRunner) -> None:
    job = job_runner.write('version: 1\ntasks:\n  - name: "t-{{ f }}"\n    command: [cat, '
                           '"{{ f }}"]\n    foreach: {f: {glob: "in/*.jpg"}}\n')
    done = job_runner.run(job)
    assert done.returncode == 0, done.stderr
    assert 'tasks[0] "t-{{ f }}": glob "in/*.jpg" matched nothing' in done.stderr
    assert done.events("job_started")[0]["tasks"] == 0
    assert done.events("task_started") == []
    assert done.events("job_finished")[0]["exit_code"] == 0
