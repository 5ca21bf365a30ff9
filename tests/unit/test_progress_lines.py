"""Task lines printed above the progress bar reach the terminal exactly as rich's own
`Console.out` would write them, bar and all, without rich measuring each character."""

from __future__ import annotations

import io

import pytest
from rich.console import Console as RichConsole
from rich.progress import Progress as RichProgress

from runner.events import JobFinished, JobStarted, StopRequested
from runner.sinks import progress as progress_module
from runner.sinks.progress import Progress

LINES = ("✓ ok          sq-1  pid 41 ppid 40  0.20s  → 1\n"
         "    │ colour \x1b[31mred\x1b[0m, wide 漢字\n"
         f"✗ failed      {'x' * 300}  pid 42 ppid 40  0.00s\n")


def _screen(write_lines: bool, lines: str = LINES) -> str:
    """What a 80-column terminal receives: a live bar, the lines above it, the bar again."""
    buffer = io.StringIO()
    console = RichConsole(file=buffer, force_terminal=True, width=80, color_system="truecolor")
    bar = RichProgress(console=console, auto_refresh=False, redirect_stdout=False,
                       redirect_stderr=False)
    bar.add_task("job", total=3)
    bar.start()
    if write_lines:
        progress = Progress()
        progress.lines._console = console  # the sink's writer, on this test's terminal
        progress.lines.write(lines)
    else:
        console.out(lines, end="", highlight=False)
    bar.refresh()
    bar.stop()
    return buffer.getvalue()


def test_lines_above_the_bar_are_written_as_rich_writes_them() -> None:
    assert _screen(write_lines=True) == _screen(write_lines=False)
    assert "漢字" in _screen(write_lines=True)


def test_a_tab_reaches_the_terminal_as_a_tab() -> None:
    """rich would expand it to spaces; the terminal does the same with the tab itself."""
    assert "a\tb" in _screen(write_lines=True, lines="a\tb\n")


def _started(buffer: io.StringIO) -> Progress:
    progress = Progress(buffer)
    progress.job_started(JobStarted(0.0, "job", "abcdefabcdef", 1, "h", "pool", 2, "async",
                                    3, None))
    return progress


def test_lines_while_the_bar_is_live_go_out_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Written at most every LINES_SECONDS, on the runner's flushes; all of them before
    the bar stops; a stop's message at once; and none held once the bar is gone."""
    buffer = io.StringIO()
    progress = _started(buffer)
    monkeypatch.setattr(progress_module, "LINES_SECONDS", 3600.0)
    try:
        progress.lines.write("first\n")
        progress.lines.flush()
        assert "first\n" in buffer.getvalue()  # nothing went out before: at once
        progress.lines.write("second\n")
        progress.lines.flush()
        progress.flush()
        assert "second\n" not in buffer.getvalue()  # held: the last write was just now
        progress.stopping(StopRequested(0.0, "SIGINT", 1, 0, False, False))
        progress.lines.write("■ stopping\n")
        progress.lines.flush()
        assert buffer.getvalue().index("second\n") < buffer.getvalue().index("■ stopping")
        progress.lines.write("third\n")
        progress.job_finished(JobFinished(0.0, {"ok": 3}, 0, 1.0, None))
        assert "third\n" in buffer.getvalue()
        progress.lines.write("summary\n")
        assert buffer.getvalue().endswith("summary\n")
    finally:
        progress.close()


def test_held_lines_go_out_on_a_later_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    progress = _started(buffer)
    try:
        monkeypatch.setattr(progress_module, "LINES_SECONDS", 3600.0)
        progress.lines.write("first\n")
        progress.lines.flush()
        progress.lines.write("second\n")
        progress.lines.flush()
        assert "second\n" not in buffer.getvalue()
        progress.lines.hurry()  # as if LINES_SECONDS had passed
        progress.flush()  # the runner's next flush, with no new line
        assert "second\n" in buffer.getvalue()
    finally:
        progress.close()


def test_a_job_name_that_looks_like_markup_is_shown_as_written() -> None:
    """The bar shows the job's name and the stop's cause as text: `[/x]` in a name is
    not a closing tag (rich raised MarkupError, and the run ended as a bug)."""
    buffer = io.StringIO()
    progress = Progress(buffer)
    progress.job_started(JobStarted(0.0, "demo [/x] [bold]", "abcdefabcdef", 1, "h", "pool",
                                    2, "async", 3, None))
    try:
        progress.stopping(StopRequested(0.0, "SIGINT [/y]", 1, 0, False, False))
        progress.job_finished(JobFinished(0.0, {"ok": 3}, 0, 1.0, None))
    finally:
        progress.close()
    assert "demo [/x] [bold]" in buffer.getvalue()
