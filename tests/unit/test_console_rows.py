"""The console's span path: a span's ok tasks arrive as rows, and each must print exactly
the line `format_task` makes of the same task, in its place among the tasks that arrive
one by one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from runner.events import OkRow, Outcome, SpanFinished, TaskFinished, TaskStatus
from runner.sinks.console import Console, format_row, format_task

ROWS: list[OkRow] = [
    (0, "t[i=0]", "t", 41, 40, 0.004, "0", "", ""),
    (1, "sq-1", "sq-1", 41, 40, 1.236, '{"a": [1, 2]}', "", ""),
    (2, "t[i=2]", "t", 42, 40, 0.0, None, "", ""),
    (3, "t[i=3]", "t", 42, 40, 12.5, "x" * 300, "one\ntwo\n", "   \n"),
    (4, "t[i=4]", "t", 42, 40, 0.01, '"a\\nb  c"', "", "".join(f"l{n}\n" for n in range(30))),
    (5, "naïve[who=wörld]", "naïve", 7, 1, 3600.0, "null", "no newline", ""),
]


def _event(row: OkRow, seq: int, status: TaskStatus = TaskStatus.OK) -> TaskFinished:
    offset, task, name, pid, ppid, seconds, result, stdout, stderr = row
    outcome = Outcome(offset, status, 100.0, 100.0 + seconds, pid, ppid, "w", "h", result,
                      stdout=stdout, stderr=stderr)
    return TaskFinished(0.0, task, name, offset, {}, seq, 1, True, outcome, "hash")


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row[1])
def test_a_row_prints_as_its_task_would(row: OkRow) -> None:
    assert format_row(row) == format_task(_event(row, row[0]))


def test_span_rows_wait_for_their_turn_among_single_tasks() -> None:
    """Tasks 0-5: a span holding 2, 3 and 5 (4 failed and comes alone) arrives before
    task 0 and 1, which come one by one; the lines print in task order."""
    stream = io.StringIO()
    console = Console(stream)
    assert console.accepts_spans and console.span_rows
    first = 2
    span_rows = [(row[0] - first, *row[1:]) for row in ROWS if row[0] in (2, 3, 5)]
    console.span_finished(SpanFinished(0.0, 3, "", first, span_rows))
    console.flush()
    assert stream.getvalue() == ""  # task 0 has not finished
    console.task_finished(_event(ROWS[0], 0))
    console.task_finished(_event(ROWS[1], 1))
    console.task_finished(_event(ROWS[4], 4, TaskStatus.FAILED))
    console.flush()
    expected = [format_task(_event(ROWS[0], 0)), format_task(_event(ROWS[1], 1)),
                format_row(ROWS[2]), format_row(ROWS[3]),
                format_task(_event(ROWS[4], 4, TaskStatus.FAILED)), format_row(ROWS[5])]
    assert stream.getvalue() == "".join(expected)
    assert "✗ failed" in expected[4]


def test_quiet_asks_for_no_rows_and_prints_none() -> None:
    stream = io.StringIO()
    console = Console(stream, quiet=True)
    assert console.accepts_spans and not console.span_rows
    console.span_finished(SpanFinished(0.0, 1, "", 0, ROWS[:1]))
    console.flush()
    assert stream.getvalue() == ""


def test_a_run_printing_every_task_sends_spans_with_rows(tmp_path: Path) -> None:
    from runner.engine import spans
    from runner.executors.kinds import capabilities
    from runner.jobfile.loader import load
    from runner.sinks.journal import Journal

    path = tmp_path / "job.yml"
    path.write_text("version: 1\nexecutor: pool\ntasks:\n  - {name: t, call: m:f}\n")
    job = load(path)
    sinks = [Journal(tmp_path / "j.jsonl"), Console(io.StringIO())]
    try:
        assert spans.enabled(job, capabilities(job.executor), frozenset(), sinks)
        assert spans.rows_wanted(sinks)
        assert not spans.rows_wanted([sinks[0], Console(io.StringIO(), quiet=True)])
    finally:
        sinks[0].close()
