"""An attempt's fragments, as a worker makes them: `duration` and `cpu_time` read back
as the seconds rounded to the microsecond, whatever the text that carries them, and a
short attempt charged its wall time shows the same number twice."""

from __future__ import annotations

import json

import pytest

from runner.journal.format import made

STARTED = 1_796_000_000.123456
WALLS = [0.0, 4e-06, 1.5e-05, 0.00125, 0.0009995, 0.9999995, 2.0, 123.4567891, 86_400.25]


def _tail(cpu_time: float, finished: float, **fields: object) -> dict[str, object]:
    fragments = made('"pid":1', STARTED, finished, fields.get("result"),  # type: ignore[arg-type]
                     None, None, "", "", 7, cpu_time)
    record: dict[str, object] = json.loads("{" + fragments.tail[1:] + "}")
    return record


@pytest.mark.parametrize("wall", WALLS)
def test_duration_and_cpu_time_read_back_rounded_to_the_microsecond(wall: float) -> None:
    finished = STARTED + wall
    for cpu_time in (finished - STARTED, 0.25, 1e-07, 3.0000005, 1e-06 * 999):
        record = _tail(cpu_time, finished)
        assert record["duration"] == round(finished - STARTED, 6)
        assert record["cpu_time"] == round(cpu_time, 6)
        assert isinstance(record["duration"], float) and isinstance(record["cpu_time"], float)
        assert record["peak_rss"] == 7


def test_the_usage_fields_follow_the_others_in_a_fixed_order() -> None:
    record = _tail(0.5, STARTED + 1, result="[1, 2]")
    assert list(record) == ["duration", "result", "peak_rss", "cpu_time"]
    assert record["result"] == [1, 2]
