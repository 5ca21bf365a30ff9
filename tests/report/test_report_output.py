"""What `report_command` prints and writes: the table, --json, notes on stderr, the page."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from runner.errors import RunnerError
from runner.report.digest import report_command, summarise
from runner.report.html import MAX_LANES, render
from runner.report.read import read_journal
from tests.conftest import RUNNER
from tests.report.conftest import Processes
from tests.report.report_journals import JournalWriter, resumed_five

NASTY = "<script>alert(1)</script>"


def two_runs(journal: JournalWriter) -> Path:
    journal.job_started(0, run="first", mode="sync")
    journal.attempt("a", 0, 1, pid=11).attempt("b", 1, 2, pid=12, status="failed",
                                                error={"type": "KeyError", "message": "'k'"})
    journal.job_finished(2, exit_code=1).job_started(10, run="second")
    journal.attempt("b", 10, 11, pid=21, status="failed", final=False)
    return journal.attempt("b", 12, 13, pid=22, attempt=2).job_finished(13).write()


def page_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page,
                      re.S)
    assert found
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_table(journal: JournalWriter, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_command(two_runs(journal), html=None, as_json=False) == 0
    out = capsys.readouterr().out
    for title in ["Runs", "Wall time vs the sum of task durations",
                  "Tasks by latest status (each task once, across 2 runs)",
                  "Failures (first 1 of 1)", "Slowest attempts", "Workers"]:
        assert f"\n{title}\n" in f"\n{out}"
    assert re.search(r"1\s+first\s+demo\s+pool\s+sync\s+3\s+2\s+1\s+0\s+1\n", out)
    assert re.search(r"2\s+second\s+demo\s+pool\s+async\s+3\s+1\s+1\s+1\s+0\n", out)
    assert re.search(r"2\s+3\.00s\s+2\.00s\s+0\.67x\s+1\s+0\.00s\n", out)
    assert re.search(r"b\s+1\s+failed\s+KeyError\s+'k'", out)
    assert re.search(r"ok\s+2\n\s+failed\s+0\n", out) and re.search(r"total\s+2\n", out)


@pytest.mark.parametrize("as_json", [False, True])
def test_a_resumed_job_counts_each_task_once_in_every_format(
        journal: JournalWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        as_json: bool) -> None:
    page = tmp_path / "page.html"
    assert report_command(resumed_five(journal), html=page, as_json=as_json) == 0
    out = capsys.readouterr().out
    if as_json:
        summary = json.loads(out)
        assert (summary["tasks"], summary["counts"]["ok"], summary["counts"]["timeout"],
                summary["counts"]["failed"]) == (5, 3, 2, 0)
    else:
        assert re.search(r"ok\s+3\n\s+failed\s+0\n\s+timeout\s+2\n", out), out
        assert re.search(r"total\s+5\n", out) and "total  8" not in out
        assert re.search(r"1\s+first\s+demo\s+pool\s+async\s+3\s+5\s+2\s+0\s+1\n", out)
        assert re.search(r"2\s+second\s+demo\s+pool\s+async\s+3\s+3\s+1\s+0\s+1\n", out)
    html = page.read_text()
    assert ": 5 task(s), 2 run(s), 8 attempt(s)</p>" in html
    assert '<div class="card"><b>5</b><span>tasks</span></div>' in html
    assert "5 task(s) ended here, 2 ok" in html and "3 task(s) ended here, 1 ok" in html


def test_json_is_one_object(journal: JournalWriter, capsys: pytest.CaptureFixture[str]) -> None:
    path = two_runs(journal)
    report_command(path, html=None, as_json=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == json.loads(json.dumps(summarise(read_journal(path), path)))
    assert json.loads(out)["retries"] == 1


def test_ignored_lines_are_reported_on_stderr(journal: JournalWriter,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    journal.job_started().lines.append("garbage\n")
    path = journal.attempt("a", 0, 1, pid=11).write(b'{"event": "task_fin')
    report_command(path, html=None, as_json=True)
    err = capsys.readouterr().err
    assert "ignored a torn last line (19 bytes without a newline" in err
    assert "skipped 1 line(s) that are not journal events (the first is line 2)" in err


def test_the_page_escapes_what_came_from_the_journal(journal: JournalWriter, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    journal.job_started(job=NASTY).attempt(NASTY, 0, 1, pid=11, host="<b>host</b>")
    error = {"type": "<i>E</i>", "message": "</script><img src=x onerror=alert(2)>"}
    path = journal.attempt("x&y", 0, 1, pid=12, status="failed", error=error).write()
    page_path = tmp_path / "page.html"
    report_command(path, html=page_path, as_json=True)
    page = page_path.read_text()
    assert f"wrote {page_path}" in capsys.readouterr().err
    assert page.count("<script") == 3  # the error handler, the data, the drawing code
    for raw in [NASTY, "<img", "<b>host", "<i>E"]:
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    lanes = page_data(page)["runs"][0]["lanes"]
    assert lanes[0]["bars"][0][3] == NASTY and lanes[0]["detail"].startswith("<b>host</b>")


def test_the_page_is_self_contained(journal: JournalWriter) -> None:
    path = two_runs(journal)
    page = render(summarise(read_journal(path), path), read_journal(path))
    assert not re.search(r"\b(src|href)=|@import|url\(|<link", page)
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}


def test_the_page_says_when_bars_are_left_out(journal: JournalWriter) -> None:
    path = two_runs(journal)
    digest = read_journal(path, bar_cap=3)
    page = render(summarise(digest, path), digest)
    assert "The timeline shows the first 3 attempts; 1 more are in the tables" in page
    first, second = page_data(page)["runs"]
    assert sum(len(lane["bars"]) for run in (first, second) for lane in run["lanes"]) == 3
    assert (first["span"], second["span"]) == (2.0, 1.0)  # the second is drawn up to its cut


def test_short_lived_processes_share_lanes(journal: JournalWriter) -> None:
    """Commands have a process each: 4 at a time for 100 tasks is 4 lanes, not 100."""
    journal.job_started()
    for i in range(100):
        journal.attempt(f"cmd{i}", i // 4, i // 4 + 1, pid=1000 + i)
    path = journal.write()
    digest = read_journal(path)
    lanes = page_data(render(summarise(digest, path), digest))["runs"][0]["lanes"]
    assert MAX_LANES < 100 and len(lanes) == 4
    assert lanes[0]["label"] == "25 processes" and lanes[0]["detail"] == "pids 1000, 1004, 1008 …"
    assert sum(len(lane["bars"]) for lane in lanes) == 100


def test_a_terminal_gets_rich_tables(journal: JournalWriter, processes: Processes) -> None:
    """Through a real pseudo-terminal; a task name in rich markup is printed as it is."""
    path = journal.job_started().attempt("[bold]x[/bold]", 0, 1, pid=11).write()
    leader, follower = os.openpty()
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(leader, chunks), daemon=True)
    reader.start()
    try:
        result = processes.run([RUNNER, "report", str(path)], timeout=30, stdout=follower)
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    out = b"".join(chunks).decode()
    assert result.returncode == 0, result.stderr
    assert "[bold]x[/bold]" in out and "───" in out


def _read_all(fd: int, chunks: list[bytes]) -> None:
    """Drain the terminal while the report writes to it, so a full buffer never blocks it."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: every follower descriptor is closed
            return
        if not chunk:
            return
        chunks.append(chunk)


def test_a_page_that_cannot_be_written(journal: JournalWriter, tmp_path: Path) -> None:
    path = journal.job_started().attempt("a", 0, 1, pid=11).write()
    with pytest.raises(RunnerError, match=r"cannot write the page .*: No such file or directory"):
        report_command(path, html=tmp_path / "missing" / "page.html", as_json=True)
