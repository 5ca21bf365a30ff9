"""An attempt's fragments, as a worker makes them: `duration` and `cpu_time` read back
as the seconds rounded to the microsecond, whatever the text that carries them, and a
short attempt charged its wall time shows the same number twice."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pytest

from runner.journal.format import iso, made, stamp

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


STAMPED = [0.0, 0.5, 0.9999996, 1.0, 59.9999999, 1_796_000_000.123456, 1_796_000_000.9999995,
           1_796_000_001.0000004, 1_796_000_000.000001, 1_796_003_600.5, 4_102_444_800.25,
           -0.5, -1.0, -86_400.0000004]


@pytest.mark.parametrize("order", ["rising", "falling", "shuffled"])
def test_timestamps_are_the_datetime_text_whatever_second_came_before(order: str) -> None:
    """Formatting reuses the text of the second it stamped last: each timestamp must still
    read as datetime writes it, on either side of a second's edge, into the next second
    by rounding, before 1970, and after a jump backwards."""
    stamps = sorted(STAMPED, reverse=order == "falling")
    if order == "shuffled":
        random.Random(15).shuffle(stamps)
    for ts in stamps * 2:
        expected = datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds")
        assert iso(ts) == expected, ts
        assert json.loads(stamp(ts)) == expected, ts
