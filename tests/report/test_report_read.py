"""Reading a journal back: counts, runs, retries, statuses, and what is ignored."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from runner.errors import NotAJournal
from runner.journal.reader import LINE_LIMIT
from runner.report.digest import concurrency, summarise
from runner.report.read import STATUSES, WORKER_CAP, Attempt, read_journal
from tests.report.report_journals import T0, JournalWriter, iso, resumed_five


def summary_of(path: Path) -> dict[str, Any]:
    return summarise(read_journal(path), path)


def test_counts_slowest_workers_and_speedup(journal: JournalWriter) -> None:
    journal.job_started().attempt("a", 0, 1, pid=11).attempt("b", 0, 2, pid=12)
    path = journal.attempt("c", 1, 1.5, pid=11).job_finished(2.0).write()
    summary = summary_of(path)
    assert summary["counts"] == {**dict.fromkeys(STATUSES, 0), "ok": 3}
    assert (summary["tasks"], summary["attempts"], summary["retries"]) == (3, 3, 0)
    assert (summary["wall"], summary["task_time"], summary["speedup"]) == (2.0, 3.5, 1.75)
    assert [s["task"] for s in summary["slowest"]] == ["b", "a", "c"]
    usage = {w["pid"]: w for w in summary["runs"][0]["worker_usage"]}
    assert (usage[11]["attempts"], usage[11]["busy"], usage[11]["utilisation"]) == (2, 1.5, 0.75)
    assert (usage[12]["attempts"], usage[12]["utilisation"]) == (1, 1.0)
    assert usage[11]["process_name"] == "ForkProcess-11"
    run = summary["runs"][0]
    assert (run["max_concurrent"], run["overlap_seconds"]) == (2, 1.5)
    assert (run["job"], run["mode"], run["workers"], run["exit_code"]) == ("demo", "async", 3, 0)


def test_a_torn_last_line_is_ignored_and_measured(journal: JournalWriter) -> None:
    tail = b'{"event": "task_finished", "ts": "2027-01-15T08:00:01'
    path = journal.job_started().attempt("a", 0, 1, pid=11).write(tail)
    digest = read_journal(path)
    assert (digest.torn_bytes, digest.skipped, digest.events) == (len(tail), 0, 3)
    assert summarise(digest, path)["ignored"]["torn_bytes"] == len(tail)


def test_appended_runs_are_reported_one_by_one(journal: JournalWriter) -> None:
    journal.job_started(0, run="first", mode="sync")
    journal.attempt("a", 0, 1, pid=11).attempt("b", 1, 2, pid=11, status="failed")
    journal.job_finished(2.5, exit_code=1)
    journal.job_started(100, run="second")
    path = journal.attempt("b", 100, 101, pid=11).job_finished(101.5).write()
    first, second = summary_of(path)["runs"]
    assert (first["run"], first["mode"], first["exit_code"], first["wall"]) == (
        "first", "sync", 1, 2.5)
    assert (first["counts"]["ok"], first["counts"]["failed"], first["max_concurrent"]) == (1, 1, 1)
    assert (second["run"], second["counts"]["ok"], second["wall"]) == ("second", 1, 1.5)
    assert first["worker_usage"][0]["attempts"] == 2
    assert second["worker_usage"][0]["attempts"] == 1  # the same pid, counted per run
    assert second["started"].startswith("2027-01-15T08:01:40")
    assert summary_of(path)["counts"]["ok"] == 2


def test_a_resumed_run_counts_each_task_once_by_its_latest_attempt(
        journal: JournalWriter) -> None:
    summary = summary_of(resumed_five(journal))
    assert (summary["tasks"], summary["attempts"]) == (5, 8)
    assert summary["counts"] == {**dict.fromkeys(STATUSES, 0), "ok": 3, "timeout": 2}
    first, second = summary["runs"]
    assert (first["run"], first["counts"]["ok"], first["counts"]["failed"]) == ("first", 2, 2)
    assert (second["run"], second["counts"]["ok"], second["counts"]["timeout"]) == (
        "second", 1, 2)


def test_tasks_a_resumed_run_never_handed_out_are_counted_once(
        journal: JournalWriter) -> None:
    """Only job_finished counts them, without ids: the last run's are what is left."""
    journal.job_started(0, run="first").attempt("a", 0, 1, pid=11, status="failed")
    journal.job_finished(1, exit_code=130, counts={"failed": 1, "cancelled": 3})
    journal.job_started(10, run="second").attempt("a", 10, 11, pid=12)
    path = journal.job_finished(11, exit_code=130, counts={"ok": 1, "cancelled": 3}).write()
    summary = summary_of(path)
    assert (summary["tasks"], summary["counts"]["ok"], summary["counts"]["cancelled"]) == (
        4, 1, 3)


def test_retries_count_attempts_not_tasks(journal: JournalWriter) -> None:
    journal.job_started()
    journal.attempt("flaky", 0, 1, pid=11, status="failed", final=False, retry_in=1.0)
    journal.attempt("flaky", 2, 3, pid=12, status="timeout", attempt=2, final=False)
    path = journal.attempt("flaky", 5, 6, pid=11, attempt=3).job_finished(6).write()
    summary = summary_of(path)
    assert (summary["tasks"], summary["attempts"], summary["retries"]) == (1, 3, 2)
    assert summary["counts"]["ok"] == 1
    assert (summary["failures_total"], summary["failures"]) == (0, [])


def test_every_status(journal: JournalWriter) -> None:
    error = {"type": "ValueError", "message": "bad input\nsecond line", "traceback": "Tb..."}
    journal.job_started().attempt("good", 0, 1, pid=11)
    journal.attempt("bad", 0, 1, pid=12, status="failed", error=error)
    journal.attempt("slow", 1, 2, pid=11, status="timeout",
                    error={"type": "Timeout", "message": "ran past 1s"})
    journal.attempt("dead", 1, 2, pid=13, status="crashed",
                    error={"type": "ProcessKilled", "message": "killed by SIGSEGV"})
    journal.attempt("cmd", 2, 3, pid=14, status="failed", exit_code=2)
    journal.attempt("stopped", 2, 3, pid=12, status="interrupted")
    journal.attempt("never", 3, 3, pid=0, status="cancelled")
    journal.add({"event": "task_finished", "ts": iso(T0 + 3), "task": "skip-id", "name": "skip",
                 "index": 0, "attempt": 1, "final": True, "status": "skipped", "pid": None,
                 "ppid": None, "process_name": "", "host": "vm", "started": None,
                 "finished": iso(T0 + 3), "duration": 0.0,
                 "error": {"type": "Skipped", "message": "needs bad ended failed"}})
    path = journal.job_finished(3).write()
    summary = summary_of(path)
    assert summary["counts"] == {"ok": 1, "failed": 2, "timeout": 1, "crashed": 1,
                                 "interrupted": 1, "cancelled": 1, "skipped": 1}
    failures = {f["task"]: f for f in summary["failures"]}
    assert set(failures) == {"bad", "slow", "dead", "cmd", "stopped"}
    assert (failures["bad"]["error_type"], failures["bad"]["message"]) == (
        "ValueError", "bad input\nsecond line")
    assert (failures["cmd"]["error_type"], failures["cmd"]["message"]) == (
        "ExitCode", "exit code 2")
    assert failures["dead"]["message"] == "killed by SIGSEGV"
    usage = summary["runs"][0]["worker_usage"]
    assert sorted(w["pid"] for w in usage) == [11, 12, 13, 14]  # the cancelled one never ran
    assert summary["timeline"] == {"attempts_drawn": 6, "attempts_not_drawn": 0}


def test_cancelled_tasks_counted_only_by_job_finished(journal: JournalWriter) -> None:
    journal.job_started().attempt("a", 0, 1, pid=11)
    journal.attempt("b", 1, 1, pid=0, status="cancelled")
    path = journal.job_finished(1, exit_code=130, counts={"ok": 1, "cancelled": 5}).write()
    run = summary_of(path)["runs"][0]
    assert (run["counts"]["cancelled"], run["cancelled_unjournaled"]) == (5, 4)


def test_a_run_killed_before_job_finished(journal: JournalWriter) -> None:
    path = journal.job_started(0).attempt("a", 1, 2, pid=11).attempt("b", 1, 4, pid=12).write()
    run = summary_of(path)["runs"][0]
    assert (run["finished"], run["exit_code"], run["wall"]) == (False, None, 4.0)


def test_task_lines_without_job_started(journal: JournalWriter) -> None:
    path = journal.attempt("a", 5, 6, pid=11).attempt("b", 5, 7, pid=12).write()
    (run,) = summary_of(path)["runs"]
    assert (run["run"], run["job"], run["wall"], run["counts"]["ok"]) == (None, None, 2.0, 2)
    assert run["started"].startswith("2027-01-15T08:00:05")


def test_lines_that_are_not_events_are_skipped_and_counted(journal: JournalWriter) -> None:
    journal.job_started()
    journal.lines += ["not json\n", "[1, 2]\n", '{"event": "party"}\n', "\xff\n"]
    journal.add({"event": "task_finished", "status": "splendid", "name": "x"})
    path = journal.attempt("a", 0, 1, pid=11).write()
    digest = read_journal(path)
    assert (digest.skipped, digest.first_skipped, digest.events) == (5, 2, 3)


def test_odd_values_are_skipped_not_fatal(journal: JournalWriter) -> None:
    journal.job_started().attempt("a", 0, 1, pid=11)
    journal.lines += ['{"event": []}\n', '{"event": "task_finished", "pid": "x"}\n',
                      '{"event": "job_started", "ts": 5}\n', '{"event": "job_started"}\n']
    path = journal.add({"event": "job_finished", "duration": float("inf")}).write()
    summary = summary_of(path)
    assert (summary["ignored"]["skipped_lines"], summary["wall"]) == (4, 1.0)
    assert "inf" not in json.dumps(summary).lower()


def test_an_oversized_line_is_skipped_without_holding_it(journal: JournalWriter) -> None:
    journal.job_started()
    journal.lines.append("x" * (LINE_LIMIT + 10) + "\n")
    path = journal.attempt("a", 0, 1, pid=11).write()
    digest = read_journal(path)
    assert (digest.skipped, digest.events, digest.runs[0].attempts) == (1, 3, 1)


def test_touching_and_zero_length_bars_do_not_overlap() -> None:
    def bar(start: float, end: float) -> Attempt:
        return Attempt(0, "t", 1, "ok", start, end, 11, "vm", "p")

    assert concurrency([bar(0, 1), bar(1, 2), bar(2, 3), bar(1, 1)]) == (1, 0.0)
    assert concurrency([bar(0, 2), bar(1, 3), bar(1.5, 2.5)]) == (3, 1.5)
    assert concurrency([]) == (0, 0.0)


def test_workers_past_the_cap_are_pooled(journal: JournalWriter) -> None:
    journal.job_started()
    for pid in range(1, WORKER_CAP + 6):
        journal.attempt("t", 0, 1, pid=pid)
    usage = summary_of(journal.write())["runs"][0]["worker_usage"]
    assert len(usage) == WORKER_CAP + 1
    assert (usage[-1]["pid"], usage[-1]["attempts"]) == (0, 5)


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"", "it is empty"),
    (b'{"event": "job_sta', "but for a torn line of 18 bytes"),
    (b"hello\nworld\n", "none of its 2 line(s) is a journal event"),
])
def test_unusable_journals(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "journal.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(NotAJournal, match=re.escape(message)):
        read_journal(path)
    with pytest.raises(NotAJournal, match="is a directory; a journal must be a regular file"):
        read_journal(tmp_path)


def test_memory_stays_flat_as_the_journal_grows(tmp_path: Path) -> None:
    """Only aggregates are kept: ten times the attempts, about the same peak."""

    def peak(attempts: int) -> int:
        writer = JournalWriter(tmp_path / f"{attempts}.jsonl").job_started()
        for i in range(attempts):
            status = "failed" if i % 7 == 0 else "ok"
            writer.attempt(f"task{i}", i, i + 1.5, pid=10 + i % 4, status=status,
                           error={"type": "E", "message": "m" * 200} if status != "ok" else None)
        path = writer.job_finished(attempts + 2).write()
        tracemalloc.start()
        try:
            summarise(read_journal(path, bar_cap=100), path)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(2_000), peak(20_000)
    assert large < small * 1.3 + 64 * 1024, (small, large)


def test_measured_usage_per_task_and_per_worker(journal: JournalWriter) -> None:
    """`peak_rss` and `cpu_time` are shown per attempt (the largest first) and summed or
    maxed per worker; a journal written before they were measured reads as zeros."""
    journal.job_started()
    journal.attempt("small", 0, 1, pid=11, peak_rss=1 << 20, cpu_time=0.25)
    journal.attempt("big", 1, 2, pid=11, peak_rss=300 << 20, cpu_time=0.75)
    journal.attempt("older", 0, 1, pid=12)
    summary = summary_of(journal.job_finished(2.0).write())
    assert [(s["task"], s["peak_rss"]) for s in summary["largest"]] == [
        ("big", 300 << 20), ("small", 1 << 20)]
    usage = {w["pid"]: w for w in summary["runs"][0]["worker_usage"]}
    assert (usage[11]["cpu_time"], usage[11]["peak_rss"]) == (1.0, 300 << 20)
    assert (usage[12]["cpu_time"], usage[12]["peak_rss"]) == (0.0, 0)
    from runner.report.text import plain, sections

    text = plain(sections(summary))
    assert "Most memory" in text and "300.0 MiB" in text
