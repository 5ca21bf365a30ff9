"""What processes use, as the runner sees them from outside: the kernel's account of a
reaped child, and the resident memory of whole process trees, sampled.

Sampling runs on the engine's tick, for every running attempt at once, so it reads the
process table once per sample (on Linux one small read of /proc/PID/stat per process,
which holds both the parent and the resident size) and never asks a tree at a time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

import psutil

_KIB = 1 if sys.platform == "darwin" else 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PROC = "/proc"


def reaped(usage: Any, mark: HighWater | None = None) -> tuple[int, float]:
    """(peak bytes, CPU seconds) of a reaped child and the children it waited for, from its
    `resource.struct_rusage` (None: nothing known). Linux carries the high-water mark of
    the memory the process had when it called exec into its `ru_maxrss`, and a command
    is spawned sharing the runner's memory until its exec, so the peak counts only when
    it is above this process's own mark: read now, or kept by `mark`."""
    if usage is None:
        return 0, 0.0
    peak = int(usage.ru_maxrss) * _KIB
    above_mark = mark.below(peak) if mark is not None else peak > peak_of_process()
    if not above_mark:
        peak = 0  # unknown: sampling says what it saw
    return peak, usage.ru_utime + usage.ru_stime


class HighWater:
    """This process's high-water mark as last read, for a process that never resets it
    (the runner: only a pool or Dask worker does): the mark only rises, so a peak at or
    under the last reading is under it still, and /proc is read again only for a peak
    above it. Thousands of short commands then cost one read each no more."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen = 0

    def below(self, peak: int) -> bool:
        """Whether this process's mark is below `peak` bytes."""
        if peak <= self.seen:
            return False
        self.seen = peak_of_process()
        return peak > self.seen


def peak_of_process() -> int:
    """This process's own high-water mark in bytes (VmHWM) where /proc has it, else
    `ru_maxrss` (which on Linux may be a mark this process inherited through exec)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # no rusage on this platform
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * _KIB


def tree_rss(roots: Iterable[int]) -> dict[int, int]:
    """The resident bytes of each root's process tree (the root and every descendant),
    from one pass over the process table."""
    wanted = set(roots)
    if not wanted:
        return {}
    table = _linux_table() if os.path.isdir(_PROC) else None
    if table is None:
        table = _psutil_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    sizes = {}
    for root in wanted:
        if root not in table:
            continue
        total, stack, seen = 0, [root], {root}
        while stack:  # `seen`: a PID reused while the table was read may loop the tree
            pid = stack.pop()
            total += table[pid][1]
            below = [child for child in children.get(pid, ()) if child not in seen]
            seen.update(below)
            stack.extend(below)
        sizes[root] = total
    return sizes


def _linux_table() -> dict[int, tuple[int, int]] | None:
    """pid -> (ppid, resident bytes), from /proc/PID/stat."""
    try:
        names = os.listdir(_PROC)
    except OSError:
        return None
    table = {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"{_PROC}/{name}/stat", "rb") as stat:
                data = stat.read()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        fields = data[data.rfind(b")") + 2:].split()
        try:  # after the name: state, ppid, ... rss is field 24 of stat(5)
            table[int(name)] = (int(fields[1]), int(fields[21]) * _PAGE)
        except (IndexError, ValueError):
            continue
    return table


def _psutil_table() -> dict[int, tuple[int, int]]:
    table = {}
    for process in psutil.process_iter(["ppid", "memory_info"]):
        info = process.info
        if info.get("memory_info") is not None and info.get("ppid") is not None:
            table[process.pid] = (info["ppid"], info["memory_info"].rss)
    return table
