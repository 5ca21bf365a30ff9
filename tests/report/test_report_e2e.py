"""A real run, then its report: the seed's lesson, sync in series and async in parallel."""

from __future__ import annotations

import json
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


@pytest.mark.timeout(60)
def test_a_missing_journal_is_exit_code_3_without_traceback(
        tmp_path: Path, processes: Processes) -> None:
    result = processes.run([RUNNER, "report", "nowhere.jsonl"], timeout=30, cwd=tmp_path)
    assert result.returncode == 3
    assert "cannot read the journal nowhere.jsonl: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
