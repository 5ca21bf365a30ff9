"""The progress bar's one line: the job's name, a bar, done/total, counts by status, rate,
elapsed time and ETA, fitted to the terminal's width.

The line is made from plain numbers with f-strings and fixed escape sequences, a few
microseconds a draw: the progress sink draws it ten times a second, above nothing but
the line itself. It always fits in one screen line (one column spare, so the cursor
never wraps), which is what lets the sink redraw it with a carriage return and an erase.
Names are sanitised: a control character in a job's name could move the cursor.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

from runner.events import TaskStatus

BAR_CELLS = 40
MIN_BAR_CELLS = 10
COLORS = {
    TaskStatus.OK.value: "32",
    TaskStatus.FAILED.value: "31",
    TaskStatus.TIMEOUT.value: "33",
    TaskStatus.CRASHED.value: "35",
    TaskStatus.INTERRUPTED.value: "36",
    TaskStatus.CANCELLED.value: "2",
    TaskStatus.SKIPPED.value: "2",
}
"""SGR colours by status, the 16 every terminal has: green ok, red failed, and so on."""

_ORDER = [status.value for status in TaskStatus]
Piece = tuple[str, str]  # text, SGR parameters ("" for none)


class State(NamedTuple):
    """What the bar shows at one moment."""

    title: str
    done: int
    total: int
    counts: dict[str, int]
    elapsed: float
    rate: float | None
    finished: bool = False


def render(state: State, width: int, color: bool) -> str:
    """The bar's line for a terminal `width` columns wide, with colours or without."""
    before, after = _title(state), _figures(state)
    room = width - 1 - cells_of(before) - cells_of(after)
    bar = _bar(state, min(BAR_CELLS, room)) if room >= MIN_BAR_CELLS else []
    pieces = _crop([*before, *bar, *after], width - 1)
    if not color:
        return "".join(text for text, _ in pieces)
    return "".join(f"\x1b[{sgr}m{text}\x1b[0m" if sgr else text for text, sgr in pieces if text)


def _title(state: State) -> list[Piece]:
    return [(printable(state.title), "1"), (" ", "")]


def _figures(state: State) -> list[Piece]:
    """`  812/100000 812 ok 16,023.9 tasks/s 0:00:03 eta 0:00:07`."""
    pieces: list[Piece] = [(f" {state.done:>{len(str(state.total))}}/{state.total}", "32")]
    for status in _ORDER:
        if state.counts.get(status):
            pieces += [(" ", ""), (f"{state.counts[status]} {status}", COLORS[status])]
    rate = "--" if state.rate is None else f"{state.rate:,.1f}"
    pieces += [(" ", ""), (f"{rate} tasks/s", "34"), (" ", ""), (clock(state.elapsed), "33"),
               (" eta ", ""), (_eta(state), "36")]
    return pieces


def _eta(state: State) -> str:
    if state.finished or state.done >= state.total:
        return clock(0.0)
    if not state.rate:
        return "-:--:--"
    return clock((state.total - state.done) / state.rate)


def _bar(state: State, cells: int) -> list[Piece]:
    """`━━━━━━╸──────`: the done part thick (green once all are done), the rest thin and
    grey."""
    if state.total <= 0:
        return [("─" * cells, "90")]
    halves = min(2 * cells, 2 * cells * state.done // state.total)
    full, half = divmod(halves, 2)
    done = "━" * full + "╸" * half
    colour = "32" if state.done >= state.total else "35"
    return [(done, colour), ("─" * (cells - len(done)), "90")]


def clock(seconds: float) -> str:
    """`H:MM:SS`."""
    minutes, secs = divmod(int(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def printable(text: str) -> str:
    """The text with every character a terminal would act on (escape, newline, tab,
    carriage return...) shown as `?`."""
    return text if text.isprintable() else "".join(c if c.isprintable() else "?"
                                                    for c in text)


def cells_of(pieces: list[Piece]) -> int:
    return sum(cell_width(text) for text, _ in pieces)


def cell_width(text: str) -> int:
    """Columns `text` takes on a terminal: East Asian wide characters take two,
    combining marks none."""
    if text.isascii():
        return len(text)
    return sum(_char_cells(c) for c in text)


def _char_cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _crop(pieces: list[Piece], cells: int) -> list[Piece]:
    """The pieces cut at `cells` columns: a narrow terminal sees the bar's start."""
    kept: list[Piece] = []
    for text, sgr in pieces:
        width = cell_width(text)
        if width > cells:
            text = _cut(text, cells)
            if text:
                kept.append((text, sgr))
            break
        kept.append((text, sgr))
        cells -= width
    return kept


def _cut(text: str, cells: int) -> str:
    kept = []
    for char in text:
        cells -= _char_cells(char)
        if cells < 0:
            break
        kept.append(char)
    return "".join(kept)
