"""Task lines written while the progress bar is live: they wait for the next draw, go out
above the bar in the order written, in one write with it, and none is held once the bar
is gone; the bar's line never outgrows the terminal and shows names as text."""

from __future__ import annotations

import io
import re

import pytest

from runner.events import JobFinished, JobStarted, StopRequested
from runner.sinks import progress as progress_module
from runner.sinks.bar import State, cell_width, render
from runner.sinks.progress import Progress

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(autouse=True)
def _terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal that moves its cursor and shows colours, whatever runs the tests."""
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)


class _Writes(io.StringIO):
    """A stream that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str, /) -> int:
        self.writes += 1
        return super().write(text)


def _started(buffer: io.StringIO, job: str = "job") -> Progress:
    progress = Progress(buffer)
    progress.job_started(JobStarted(0.0, job, "abcdefabcdef", 1, "h", "pool", 2, "async",
                                    3, None))
    return progress


def test_lines_while_the_bar_is_live_go_out_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Written at most every REFRESH_SECONDS, on the runner's flushes; all of them before
    the bar stops; a stop's message at once; and none held once the bar is gone."""
    monkeypatch.setattr(progress_module, "REFRESH_SECONDS", 3600.0)
    buffer = _Writes()
    progress = _started(buffer)
    try:
        progress.lines.write("first\n")
        progress.lines.write("second\n")
        progress.lines.flush()
        progress.flush()
        assert "first\n" not in buffer.getvalue()  # held: the bar was just drawn
        progress.stopping(StopRequested(0.0, "SIGINT", 1, 0, False, False))
        writes = buffer.writes
        progress.lines.write("■ stopping\n")
        progress.lines.flush()
        assert buffer.writes == writes + 1, "the lines and the bar go out in one write"
        text = buffer.getvalue()
        assert text.index("first\n") < text.index("second\n") < text.index("■ stopping")
        assert "job (stopping: SIGINT)" in ESCAPES.sub("", text.split("■ stopping\n")[-1])
        progress.lines.write("third\n")
        progress.job_finished(JobFinished(0.0, {"ok": 3}, 0, 1.0, None))
        assert "third\n" in buffer.getvalue()
        progress.lines.write("summary\n")
        assert buffer.getvalue().endswith("\x1b[?25hsummary\n")
    finally:
        progress.close()


def test_held_lines_go_out_on_a_later_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "REFRESH_SECONDS", 3600.0)
    buffer = io.StringIO()
    progress = _started(buffer)
    try:
        progress.lines.write("first\n")
        progress.lines.flush()
        assert "first\n" not in buffer.getvalue()
        progress.hurry()  # as if REFRESH_SECONDS had passed
        progress.flush()  # the runner's next flush, with no new line
        assert "first\n" in buffer.getvalue()
    finally:
        progress.close()


def test_the_final_bar_stays_below_the_last_lines_with_the_final_counts() -> None:
    buffer = io.StringIO()
    progress = _started(buffer)
    progress.lines.write("✓ ok  a\n")
    progress.job_finished(JobFinished(0.0, {"ok": 2, "failed": 1}, 1, 1.0, None))
    progress.close()  # idempotent
    screen = ESCAPES.sub("", buffer.getvalue()).split("\r")[-1]
    assert screen.startswith("✓ ok  a\njob ")
    assert "3/3 2 ok 1 failed" in screen and "eta 0:00:00" in screen
    assert buffer.getvalue().count("\x1b[?25h") == 1


def test_a_job_name_that_looks_like_markup_or_moves_the_cursor_is_shown_as_text() -> None:
    """`[/x]` is not a closing tag, and an escape or a newline in a name cannot move the
    cursor or break the bar's one line."""
    buffer = io.StringIO()
    progress = _started(buffer, "demo [/x] [bold]\x1b[2J\nnext")
    try:
        progress.stopping(StopRequested(0.0, "SIGINT [/y]", 1, 0, False, False))
        progress.job_finished(JobFinished(0.0, {"ok": 3}, 0, 1.0, None))
    finally:
        progress.close()
    text = buffer.getvalue()
    assert "demo [/x] [bold]?[2J?next (stopping: SIGINT [/y])" in ESCAPES.sub("", text)
    assert "\x1b[2J" not in text and "\n" not in text.removesuffix("\n\x1b[?25h")


def test_no_live_bar_on_a_dumb_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    buffer = io.StringIO()
    progress = _started(buffer)
    progress.lines.write("✓ ok  a\n")
    progress.job_finished(JobFinished(0.0, {"ok": 3}, 0, 1.0, None))
    assert buffer.getvalue() == "✓ ok  a\n"


@pytest.mark.parametrize("width", [1, 5, 20, 40, 80, 200])
@pytest.mark.parametrize("title", ["job", "漢字" * 30, "e\u0301" * 50])
def test_the_bar_fits_the_terminal_in_one_line(width: int, title: str) -> None:
    state = State(title, 5, 10, {"ok": 4, "failed": 1}, 3.0, 2.5)
    plain = render(state, width, color=False)
    assert cell_width(plain) <= width - 1 and "\n" not in plain
    assert ESCAPES.sub("", render(state, width, color=True)) == plain


def test_the_bar_says_progress_counts_rate_and_eta() -> None:
    state = State("job", 5, 10, {"ok": 4, "failed": 1}, 3.0, 2.5)
    line = render(state, 200, color=False)
    assert line.startswith("job ━━━━━━━━━━━━━━━━━━━━────")
    assert line.endswith("  5/10 4 ok 1 failed 2.5 tasks/s 0:00:03 eta 0:00:02")
    assert render(State("job", 0, 10, {}, 0.0, None), 80, False).endswith(
        " 0/10 -- tasks/s 0:00:00 eta -:--:--")
    assert "\x1b[31m1 failed\x1b[0m" in render(state, 200, color=True)


def test_the_bar_turns_green_only_when_every_task_is_done() -> None:
    stopped = State("job", 5, 10, {"ok": 5}, 3.0, 2.5, finished=True)
    assert "\x1b[35m━" in render(stopped, 200, color=True)
    assert render(stopped, 200, color=False).endswith(" eta 0:00:00")
    done = State("job", 10, 10, {"ok": 10}, 3.0, 2.5, finished=True)
    assert "\x1b[32m━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━\x1b[0m" in render(done, 200, True)


def test_no_color_keeps_the_bar_and_drops_its_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    buffer = io.StringIO()
    progress = _started(buffer)
    progress.job_finished(JobFinished(0.0, {"ok": 3}, 0, 1.0, None))
    assert "3/3 3 ok" in buffer.getvalue() and "\x1b[2K" in buffer.getvalue()
    assert not re.search(r"\x1b\[[0-9;]*m", buffer.getvalue())
