"""Inputs beside outputs: every task record carries its foreach values, and `runner
results` turns a journal into one row per task that Python's csv and json read back
field by field. Real runs; every wait bounded; the `marker` fixture (through
`job_runner`) proves nothing outlives a test."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RUNNER, JobRunner, read_journal

pytestmark = pytest.mark.timeout(120)

AWKWARD = ["a,b", 'say "hi"', "line1\nline2", "ünï ☃", "x;y\tz"]

TASKS = """
import os


def echo_back(f, pid):
    return {"f": f, "pid": pid, "nested": [f, {"deep": [1, 2.5, None, True]}]}


def flaky(flag):
    if not os.path.exists(flag):
        raise ValueError("no flag yet")
    return "fixed"
"""

JOB = f"""
version: 1
workers: 2
tasks:
  - name: "echo-{{{{ f }}}}-{{{{ pid }}}}"
    call: results_tasks:echo_back
    args: ["{{{{ f }}}}", "{{{{ pid }}}}"]
    foreach:
      f: {json.dumps(AWKWARD)}
      pid: [7, 8]
  - name: flaky
    call: results_tasks:flaky
    args: [flag]
    retries: 1
  - name: plain
    command: ["true"]
"""


def _job(runner: JobRunner) -> Path:
    (runner.folder / "results_tasks.py").write_text(TASKS)
    return runner.write(JOB)


def _results(journal: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNNER, "results", str(journal), *args], capture_output=True,
                          text=True, encoding="utf-8", timeout=60)


def _expected(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Task id -> the final task_finished record of its latest run."""
    return {r["task"]: r for r in records if r["event"] == "task_finished" and r["final"]}


@pytest.mark.parametrize("quiet", [False, True], ids=["per-task", "spans"])
def test_every_task_record_carries_its_foreach_values(job_runner: JobRunner,
                                                      quiet: bool) -> None:
    """On both paths (with --quiet, workers write ok tasks' lines themselves)."""
    done = job_runner.run(_job(job_runner), *(["--quiet"] if quiet else []))
    assert done.returncode == 1, done.stderr
    records = done.events("task_started") + done.events("task_finished")
    seen = set()
    for record in records:
        if record["name"].startswith("echo-"):
            f, pid = record["values"]["f"], record["values"]["pid"]
            assert record["values"] == {"f": f, "pid": pid}
            assert record["name"] == f"echo-{f}-{pid}"
            seen.add((f, pid))
        else:
            assert record["values"] == {}
    assert seen == {(f, pid) for f in AWKWARD for pid in (7, 8)}


def test_the_json_stream_carries_values(job_runner: JobRunner) -> None:
    done = job_runner.run(_job(job_runner), "--json")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    finished = [line for line in lines if line["event"] == "task_finished"]
    assert {line["values"].get("f") for line in finished} == {*AWKWARD, None}
    assert all(line["values"] == {} for line in finished if line["name"] in ("flaky", "plain"))


def _check_row(row: dict[str, Any], record: dict[str, Any], as_text: bool) -> None:
    """A row against the journal record it comes from, field by field."""
    def cell(value: Any) -> Any:
        if not as_text or value is None:
            return "" if as_text else value
        return value if isinstance(value, str) else json.dumps(value)

    values = record["values"]
    expected = {"task": record["task"], "name": record["name"], "f": values.get("f"),
                "values.pid": values.get("pid"), "status": record["status"],
                "exit_code": record.get("exit_code"), "attempts": record["attempt"],
                "duration": record["duration"], "pid": record["pid"], "host": record["host"],
                "peak_rss": record.get("peak_rss"), "cpu_time": record.get("cpu_time")}
    for key, value in expected.items():
        assert row[key] == cell(value), key
    result = record.get("result")
    if as_text:
        assert (json.loads(row["result"]) if row["result"] else None) == result
    else:
        assert row["result"] == result


def test_results_in_each_format_read_back_field_by_field(job_runner: JobRunner) -> None:
    done = job_runner.run(_job(job_runner))
    journal = job_runner.folder / "journal.jsonl"
    expected = _expected(done.journal)
    assert len(expected) == len(AWKWARD) * 2 + 2

    table = _results(journal)
    assert table.returncode == 0, table.stderr
    reader = csv.DictReader(io.StringIO(table.stdout, newline=""))
    assert reader.fieldnames == ["task", "name", "f", "values.pid", "status", "result",
                                 "exit_code", "attempts", "duration", "pid", "host",
                                 "peak_rss", "cpu_time"]
    csv_rows = list(reader)
    lines = [json.loads(line) for line in _results(journal, "--format", "jsonl").stdout
             .splitlines()]
    array = json.loads(_results(journal, "--format", "json").stdout)
    assert array == lines
    for rows, as_text in ((csv_rows, True), (lines, False)):
        assert sorted(row["task"] for row in rows) == sorted(expected)
        for row in rows:
            record = expected[row["task"]]
            if as_text:  # CSV cells are text: compare numbers as the JSON text they are
                record = {**record, "attempt": str(record["attempt"]),
                          "duration": repr(record["duration"]), "pid": str(record["pid"])}
            _check_row(row, record, as_text)
    flaky = next(row for row in lines if row["name"] == "flaky")
    assert (flaky["status"], flaky["attempts"]) == ("failed", 2)


def test_status_filters_and_rejects_unknown_statuses(job_runner: JobRunner) -> None:
    job_runner.run(_job(job_runner))
    journal = job_runner.folder / "journal.jsonl"

    def names(*args: str) -> list[str]:
        out = _results(journal, "--format", "jsonl", *args)
        assert out.returncode == 0, out.stderr
        return [json.loads(line)["name"] for line in out.stdout.splitlines()]

    assert names("--status", "failed") == ["flaky"]
    assert len(names("--status", "ok")) == len(AWKWARD) * 2 + 1
    assert sorted(names("--status", "failed,timeout", "--status", "ok")) == sorted(names())
    bad = _results(journal, "--status", "okay")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "okay" in bad.stderr and "Traceback" not in bad.stderr


def test_a_resumed_journal_shows_each_task_once_with_its_latest_attempt(
        job_runner: JobRunner) -> None:
    job = _job(job_runner)
    journal = job_runner.folder / "journal.jsonl"
    assert job_runner.run(job).returncode == 1
    (job_runner.folder / "flag").write_text("")
    resumed = job_runner.run(job, "--resume", str(journal))
    assert resumed.returncode == 0, resumed.stderr
    records = read_journal(journal)
    assert sum(r["event"] == "job_started" for r in records) == 2
    out = _results(journal, "--format", "jsonl")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == len({row["task"] for row in rows}) == len(AWKWARD) * 2 + 2
    flaky = next(row for row in rows if row["name"] == "flaky")
    assert (flaky["status"], flaky["result"], flaky["attempts"]) == ("ok", "fixed", 1)
    assert flaky["pid"] == _expected(records)["flaky"]["pid"]


@pytest.mark.parametrize("content", [b"", b"hello\nworld\n", b"\x00\xff" * 5000, b"[1,2]\n"],
                         ids=["empty", "text", "binary", "json"])
def test_a_file_that_is_not_a_journal_is_exit_2_in_one_line(tmp_path: Path,
                                                            content: bytes) -> None:
    path = tmp_path / "not-a-journal"
    path.write_bytes(content)
    for target in (path, tmp_path):
        out = _results(target)
        assert out.returncode == 2, out.stderr
        assert out.stdout == "" and out.stderr.count("\n") == 1, out.stderr
        assert str(target) in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("reader", ["pandas", "duckdb"])
def test_pandas_and_duckdb_read_the_csv_without_options(job_runner: JobRunner, tmp_path: Path,
                                                        reader: str) -> None:
    """Skipped where the library is not installed (neither is a dependency of runner)."""
    library = pytest.importorskip(reader)
    done = job_runner.run(_job(job_runner))
    expected = _expected(done.journal)
    table = tmp_path / "results.csv"
    with table.open("w", encoding="utf-8", newline="") as out:
        written = subprocess.run([RUNNER, "results", str(job_runner.folder / "journal.jsonl")],
                                 stdout=out, stderr=subprocess.PIPE, text=True, timeout=60)
    assert written.returncode == 0, written.stderr
    if reader == "pandas":
        frame = library.read_csv(table)
        columns, rows = list(frame.columns), frame.to_dict("records")
    else:
        relation = library.read_csv(str(table))
        columns = relation.columns
        rows = [dict(zip(columns, row)) for row in relation.fetchall()]
    assert columns[:4] == ["task", "name", "f", "values.pid"]
    assert sorted(row["task"] for row in rows) == sorted(expected)
    for row in rows:
        record = expected[row["task"]]
        assert row["name"] == record["name"] and row["status"] == record["status"]
        if record["name"].startswith("echo-"):
            assert row["f"] == record["values"]["f"]  # commas, quotes, newlines, unicode
            assert json.loads(row["result"]) == record["result"]  # nested, as JSON text
            assert int(row["pid"]) == record["pid"]


def _finished(task: str, values: str, result: str) -> str:
    return ('{"event":"task_finished","ts":"2026-12-06T08:18:50.088759+00:00","task":"'
            + task + '","name":"g","index":0,"values":' + values + ',"attempt":1,'
            '"final":true,"status":"ok","pid":2693,"ppid":2685,"process_name":"py",'
            '"host":"vm","duration":0.003787,"result":' + result + '}\n')


@pytest.mark.parametrize("kind", ["jsonl", "json"])
def test_nan_or_infinity_in_an_older_journal_is_refused_not_written_as_json(
        tmp_path: Path, kind: str) -> None:
    """Such a journal came from a runner that let `.inf` into a task's data: the JSON
    formats refuse the row, naming its task; CSV writes the number as Python reads it."""
    journal = tmp_path / "older.jsonl"
    journal.write_text(
        '{"event":"job_started","ts":"2026-12-06T08:18:50.064178+00:00","job":"nan",'
        '"run":"097a7bbe5fa7","pid":2685,"host":"vm","executor":"pool","workers":2,'
        '"mode":"async","tasks":3}\n'
        + _finished("g[x=1.5]", '{"x":1.5}', "1.5")
        + _finished("g[x=Infinity]", '{"x":Infinity}', "null")
        + _finished("h", "{}", "[1,NaN]"))
    out = _results(journal, "--format", kind)
    assert out.returncode == 2
    assert out.stderr == ("task g[x=Infinity]: its record holds NaN or Infinity, which JSON "
                          "has no form for (an older runner wrote them from a task's data); "
                          "the rows before it were written\n")

    def refuse(constant: str) -> object:
        raise ValueError(constant)

    written = out.stdout if kind == "jsonl" else out.stdout.lstrip("[")
    assert [json.loads(line, parse_constant=refuse)["task"]
            for line in written.splitlines() if line] == ["g[x=1.5]"]
    table = _results(journal, "--format", "csv")
    assert table.returncode == 2 and "task h:" in table.stderr
    assert [row["x"] for row in csv.DictReader(io.StringIO(table.stdout))] == ["1.5", "inf"]
