"""Task lines printed above the progress bar reach the terminal exactly as rich's own
`Console.out` would write them, bar and all, without rich measuring each character."""

from __future__ import annotations

import io

from rich.console import Console as RichConsole
from rich.progress import Progress as RichProgress

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
