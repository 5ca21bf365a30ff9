"""The runner's high-water mark kept between commands (`usage.HighWater`): it answers as
a fresh reading of /proc would, including after the mark rose since the last reading.
(The kernel's counters are approximate: two readings of an unchanged mark may differ by
a few pages, so the sizes compared here are megabytes apart.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.system import usage

MIB = 1 << 20
pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def _resident() -> int:
    """This process's resident bytes now (VmRSS)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def test_a_peak_is_below_the_mark_exactly_when_a_fresh_reading_says_so() -> None:
    mark = usage.HighWater()
    own = usage.peak_of_process()
    assert own > 0
    assert mark.below(own + 64 * MIB)  # read: above this process's mark
    assert not mark.below(own)
    assert not mark.below(own // 2)


def test_a_mark_that_rose_since_the_last_reading_is_read_again() -> None:
    mark = usage.HighWater()
    assert not mark.below(usage.peak_of_process())
    before = mark.seen
    if before - _resident() > 512 * MIB:
        pytest.skip("earlier tests left this process's mark far above its size")
    # every page touched: the process grows 96 MiB past its mark, wherever it is now
    block = bytearray(max(before - _resident(), 0) + 96 * MIB)
    grown = usage.peak_of_process()
    del block
    assert grown > before + 64 * MIB
    assert not mark.below(before + 32 * MIB)  # above the reading kept, under the mark now
    assert mark.seen > before + 32 * MIB
