"""A tail keeps the last TAIL_BYTES of a stream; a cut one says by how much, from a line."""

from __future__ import annotations

import pytest

from runner.worker.tails import TAIL_BYTES, Tail, tail_text


def _cut(text: str) -> tuple[int, str]:
    first, rest = text.split("\n", 1)
    assert first.startswith("[... ") and first.endswith(" bytes cut ...]"), first
    return int(first[5:-15].replace(",", "")), rest


def test_an_output_that_fits_is_kept_whole_without_a_mark() -> None:
    data = b"a\n" * (TAIL_BYTES // 2)
    assert tail_text(data) == data.decode()
    assert tail_text(b"") == ""


def test_a_cut_tail_starts_at_a_line_and_counts_what_it_left_out() -> None:
    data = b"".join(b"line %06d\n" % i for i in range(100_000))
    cut, rest = _cut(tail_text(data[-TAIL_BYTES:], len(data)))
    assert rest.startswith("line ") and rest.endswith("line 099999\n")
    assert cut + len(rest) == len(data)
    assert len(tail_text(data[-TAIL_BYTES:], len(data))) <= TAIL_BYTES


def test_one_long_line_is_cut_where_it_must_never_inside_a_character() -> None:
    data = "é".encode() * 50_000
    cut, rest = _cut(tail_text(data))
    assert set(rest) == {"é"} and cut + len(rest.encode()) == len(data)


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65536])
def test_the_chunked_buffer_agrees_with_the_whole(chunk: int) -> None:
    data = b"".join(b"%d\n" % i for i in range(30_000))
    tail = Tail()
    for start in range(0, len(data), chunk):
        tail.add(data[start:start + chunk])
    assert tail.text() == tail_text(data)
    assert tail.kept < TAIL_BYTES + chunk + 1
