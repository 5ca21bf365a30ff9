"""runner.journal.reader: whole lines only, a torn last line measured, an oversized line
skipped without being held, and a tail that starts at a whole line."""

from __future__ import annotations

import io
import os
from pathlib import Path

from runner.journal.reader import OVERSIZED, Lines, tail


def test_lines_are_numbered_and_a_torn_last_line_is_measured() -> None:
    lines = Lines(io.BytesIO(b'{"a":1}\n\n{"b":2}\n{"c":'))
    assert list(lines) == [(1, b'{"a":1}\n'), (2, b"\n"), (3, b'{"b":2}\n')]
    assert lines.torn_bytes == 5


def test_a_line_over_the_limit_comes_as_oversized_and_reading_goes_on() -> None:
    lines = Lines(io.BytesIO(b"x" * 25 + b"\nshort\n" + b"y" * 12), limit=10)
    assert list(lines) == [(1, OVERSIZED), (2, b"short\n"), (3, OVERSIZED)]
    assert lines.torn_bytes == 0, "a torn line over the limit is skipped, not measured"


def test_without_a_limit_every_line_comes_whole() -> None:
    assert list(Lines(io.BytesIO(b"x" * 100 + b"\n"), limit=None)) == [(1, b"x" * 100 + b"\n")]


def test_the_tail_starts_at_a_whole_line_and_drops_a_torn_one(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_bytes(b"first line\nsecond\nthird\ntorn")
    assert tail(journal, 1024) == [b"first line\n", b"second\n", b"third\n"]
    assert tail(journal, 16) == [b"third\n"]
    assert tail(journal, 3) == []


def test_the_tail_of_what_is_not_a_regular_file_is_empty(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert tail(fifo, 1024) == []
