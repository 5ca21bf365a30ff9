"""A real run, then its report: the seed's lesson, sync in series and async in parallel."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import RUNNER
from tests.report.conftest import Processes

JOB = """\
version: 1
name: naps-{mode}
executor: pool
workers: 3
mode: {mode}
tasks:
  - name: "nap{{{{ i }}}}"
    call: naps:nap
    args: ["{{{{ i }}}}"]
    foreach:
      i: {{range: [0, 6]}}
"""

NAPS = '''\
import time


def nap(i):
    time.sleep(0.3)
    return i
'''


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sync_attempts_do_not_overlap_and_async_ones_do(
        tmp_path: Path, processes: Processes, mode: str) -> None:
    (tmp_path / "job.yml").write_text(JOB.format(mode=mode))
    (tmp_path / "naps.py").write_text(NAPS)
    ran = processes.run([RUNNER, "run", "job.yml", "--journal", "j.jsonl", "--quiet"],
                        timeout=60, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = processes.run([RUNNER, "report", "j.jsonl", "--json", "--html", "page.html"],
                           timeout=30, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    (run,) = json.loads(report.stdout)["runs"]
    assert (run["mode"], run["workers"], run["counts"]["ok"], run["attempts"]) == (mode, 3, 6, 6)
    assert 6 * 0.3 <= run["task_time"] < 6 * 0.3 + 2.0
    if mode == "sync":
        assert (run["max_concurrent"], run["overlap_seconds"]) == (1, 0.0)
        assert run["speedup"] <= 1.0
    else:
        assert run["max_concurrent"] >= 2 and run["overlap_seconds"] > 0.1
    assert (tmp_path / "page.html").stat().st_size > 0


def _not_a_journal(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.jsonl"
    if kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "text":
        path.write_text("version: 1\ntasks: []\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # no writer ever comes: opening it for reading must not wait for one
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["missing", "random", "text", "empty", "directory", "fifo"])
def test_a_file_that_is_not_a_journal_is_exit_code_2_in_one_line(
        tmp_path: Path, processes: Processes, kind: str) -> None:
    path = _not_a_journal(tmp_path, kind)
    result = processes.run([RUNNER, "report", str(path)], timeout=30, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
