"""Smoke tests of the benchmark harness: it runs, checks the work it times, and leaks nothing.

The harness is only worth its numbers if it measures what it claims, so the
journal check gets its own tests with journals that are short of a task, or
lie about one. Nothing here asserts on speed: on a loaded CI machine any
timing is noise, and the targets are for `make bench`, not for tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MARKER, REPO

pytestmark = pytest.mark.timeout(240)

BENCHMARKS = REPO / "benchmarks"


def _run_harness(marker: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, MARKER: marker}
    return subprocess.run([sys.executable, str(BENCHMARKS / "run.py"), *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=200, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["callables", "commands", "memory", "startup", "pipeline",
                                      "pipeline-memory", "output"])
def test_quick_run_prints_a_table_and_writes_json(marker: str, tmp_path: Path,
                                                  workload: str) -> None:
    """`latency` and `pipeline-overlap` are left out: they take seconds a round by design."""
    output = tmp_path / "results.json"
    done = _run_harness(marker, "--quick", "--only", workload, "--rounds", "1",
                        "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert "| approach | median (" in done.stdout
    assert "|---|---:|---:|---|---|" in done.stdout
    rows = json.loads(output.read_text())["workloads"][workload]["rows"]
    assert not [row for row in rows if row["note"].startswith("FAILED")], rows
    assert all(row["samples"] for row in rows if not row["note"]), rows


def test_unknown_workload_is_a_usage_error(marker: str) -> None:
    done = _run_harness(marker, "--only", "nonsense")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr


# ---- the journal check: a run that did less than it claims must not count ------------

@pytest.fixture
def journal_check(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The harness's `_journal` module, imported the way run.py imports it."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _journal  # type: ignore[import-not-found, unused-ignore]

    return _journal


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    started = {"event": "job_started", "pid": 1}
    path.write_text("".join(json.dumps(r) + "\n" for r in [started, *records]))
    return path


def _finished(index: int, **changes: Any) -> dict[str, Any]:
    record = {"event": "task_finished", "task": f"sq[i={index}]", "index": index,
              "status": "ok", "pid": 1000 + index % 2, "result": index * index}
    return {**record, **changes}


def test_a_complete_journal_passes(journal_check: Any, tmp_path: Path) -> None:
    journal = _write(tmp_path / "j.jsonl", [_finished(i) for i in range(5)])
    journal_check.verify_journal(journal, 5, journal_check.squared_in_worker)


@pytest.mark.parametrize("spoil", [
    lambda records: records[:-1],                                   # a task missing
    lambda records: [*records[:-1], records[0]],                    # one twice, one missing
    lambda records: [*records[:-1], _finished(4, status="failed")],  # not ok
    lambda records: [*records[:-1], _finished(4, pid=None)],        # no pid
    lambda records: [*records[:-1], _finished(4, result=0)],        # wrong result
    lambda records: [*records[:-1], _finished(4, pid=1)],           # ran in the runner
], ids=["missing", "repeated", "failed", "no-pid", "wrong-result", "in-runner"])
def test_a_short_or_lying_journal_fails(
        journal_check: Any, tmp_path: Path,
        spoil: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    journal = _write(tmp_path / "j.jsonl", spoil([_finished(i) for i in range(5)]))
    with pytest.raises(journal_check.BenchError):
        journal_check.verify_journal(journal, 5, journal_check.squared_in_worker)


# ---- the leak sweep: a survivor would steal CPU from the next measurement ----------------

def test_a_process_that_outlives_its_measurement_is_found_and_killed(
        marker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _measure  # type: ignore[import-not-found, unused-ignore]

    monkeypatch.setattr(_measure, "LINGER_SECONDS", 0.2)
    monkeypatch.setenv(MARKER, marker)
    escapee = _measure.Command(["sh", "-c", "setsid sleep 60 >/dev/null 2>&1 & exit 0"])
    outcome = _measure.run_process(escapee, tmp_path, timeout=30)
    assert outcome.returncode == 0
    assert outcome.leaked == 1


# ---- the RSS hook: the runner's own peak, not its spawner's ------------------------------

def test_rss_hook_reports_the_runner_not_the_bigger_harness_that_spawned_it(
        marker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux carries ru_maxrss across exec: a hook built on it would report this test's
    200 MB ballast as the runner's peak."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _measure  # type: ignore[import-not-found, unused-ignore]
    import _workloads  # type: ignore[import-not-found, unused-ignore]

    monkeypatch.setenv(MARKER, marker)
    ballast = bytearray(200 * 2**20)
    ballast[:: 4096] = b"x" * len(range(0, len(ballast), 4096))
    rss_file = tmp_path / "rss.txt"
    command = _measure.Command([sys.executable, "-c", _workloads.RSS_HOOK, str(rss_file),
                                "--version"])
    outcome = _measure.run_process(command, tmp_path, timeout=60)
    assert outcome.returncode == 0, outcome.stderr
    assert 1_000 < int(rss_file.read_text()) < 150 * 1024, "KiB: the runner alone"
    del ballast


# ---- a failure in any round voids the row, and the table stays a table -------------------

def test_a_failure_in_a_later_round_leaves_no_median_and_a_valid_table_row(
        marker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _measure  # type: ignore[import-not-found, unused-ignore]
    import _report  # type: ignore[import-not-found, unused-ignore]

    monkeypatch.setenv(MARKER, marker)
    shaky = _measure.Approach(
        "works once", lambda r: _measure.Command(
            ["sh", "-c", "exit 0" if r == 0 else "echo 'a | b' >&2; exit 3"]),
        _measure.seconds)
    rows = _measure.alternate([shaky], 3, tmp_path, timeout=30)
    row = rows["works once"]
    assert row.samples == [] and row.median is None
    assert row.note.startswith("FAILED in round 2: exit code 3")
    _report.verdict(row, row.median, 1.0)
    assert row.passed is None
    line = _report.markdown(_report.Table("t", "s", "n/a", [row])).splitlines()[-1]
    assert line.replace("\\|", "").count("|") == 6, line
