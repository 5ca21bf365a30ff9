"""The report's tables number their rows (1, 2, 3 ...) and show rendered names, never
ids, in the text and on the HTML page; a "run #" column appears only when the journal
holds several runs. Real runs; every wait bounded; the `marker` fixture (through
`job_runner`) proves nothing outlives a test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import RUNNER, JobRunner

pytestmark = pytest.mark.timeout(120)

JOB = """
version: 1
workers: 2
tasks:
  - name: "m{{ i }}"
    command: 'test {{ i }} != 3 || test -e fixed'
    foreach: {i: [1, 2, 3]}
"""


def _table(text: str, title: str) -> list[list[str]]:
    """The rows (header first) of one plain-text table, split on runs of spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def _report(journal: Path, *args: str) -> str:
    done = subprocess.run([RUNNER, "report", str(journal), *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_rows_are_numbered_and_tasks_named(job_runner: JobRunner, tmp_path: Path) -> None:
    job = job_runner.write(JOB)
    journal = job_runner.folder / "journal.jsonl"
    assert job_runner.run(job).returncode == 1
    text = _report(journal)
    slowest = _table(text, "Slowest attempts")
    assert slowest[0][:3] == ["#", "task", "attempt"]
    assert [row[0] for row in slowest[1:]] == ["1", "2", "3"]
    assert sorted(row[1] for row in slowest[1:]) == ["m1", "m2", "m3"]
    workers = _table(text, "Workers")
    assert workers[0][:2] == ["#", "pid"]
    assert [row[0] for row in workers[1:]] == [str(n) for n in range(1, len(workers))]
    failures = _table(text, "Failures")
    assert failures[0][:2] == ["#", "task"] and failures[1][:2] == ["1", "m3"]
    assert "{{" not in text

    page = tmp_path / "report.html"
    _report(journal, "--html", str(page))
    html = page.read_text()
    assert "m3" in html and "m{{ i }}[i=3]" not in html and "[i=3]" not in html


def test_several_runs_add_a_run_column(job_runner: JobRunner) -> None:
    job = job_runner.write(JOB)
    journal = job_runner.folder / "journal.jsonl"
    assert job_runner.run(job).returncode == 1
    (job_runner.folder / "fixed").write_text("")
    assert job_runner.run(job, "--resume", str(journal)).returncode == 0
    slowest = _table(_report(journal), "Slowest attempts")
    assert slowest[0][:4] == ["#", "run", "#", "task"]  # the header "run #", split
    assert [row[0] for row in slowest[1:]] == ["1", "2", "3", "4"]
    assert sorted((row[1], row[2]) for row in slowest[1:]) == [
        ("1", "m1"), ("1", "m2"), ("1", "m3"), ("2", "m3")]
