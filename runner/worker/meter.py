"""What one attempt costs in a worker that runs many: the CPU time the worker (and the
children it reaped) used during the attempt, and the memory the attempt added.

A pool worker runs thousands of trivial calls a second, where one system call more per
call is a fifth of its cost. So an attempt is measured with one `getrusage` call at its
end (the end of one attempt is the start of the next), a second one for the children
it waited for when it lasted long enough to have any, and none at all when it took
less than a millisecond (see `SHORT`). Such an attempt costs the worker one comparison
at its start (with `fresh_until`) and one call at its end (`stop`, given the clock the
attempt's record ends at), and nothing else.
Memory comes from the kernel's high-water mark of the worker's resident set: an attempt
added what the mark rose by.
After an attempt that raised it, the mark is reset to the worker's current size (Linux,
`/proc/self/clear_refs`), so the next attempt is measured from where the worker is now,
not from the largest size it ever had. Where the kernel's `ru_maxrss` reports a mark
the worker never reached (a spawned process inherits its parent's), the mark is read
from /proc/self/status instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from runner.events import Outcome, amend
from runner.system.usage import peak_of_process

try:
    import resource
except ImportError:  # Windows: no rusage; its attempts are measured by sampling alone
    resource = None  # type: ignore[assignment]

_getrusage: Callable[[int], Any] | None = None if resource is None else resource.getrusage
_KIB = 1 if sys.platform == "darwin" else 1024
_SELF, _CHILDREN = 0, -1  # RUSAGE_SELF, RUSAGE_CHILDREN on every POSIX system
_CLEAR_REFS = "/proc/self/clear_refs"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
FRESH_AFTER = 0.01
"""Seconds between two attempts after which the counters are read again at the start:
closer than that, the end of one attempt is the start of the next (half the calls)."""
SHORT = 0.001
"""Attempts shorter than this (wall clock) are not read one by one: such an attempt is
charged its wall time as CPU time (it ran on one thread for that long at most), since a
system call would cost a trivial call a fifth of its time. Nor can it have started a
process and waited for it to end."""
READ_EVERY = 0.01
"""Seconds of short attempts after which the counters are read anyway, so the next
attempt that is read alone is charged only for itself."""

fresh_until = 0.0
"""Until when (wall clock) the counters read at the last attempt's end serve as the next
attempt's start: a worker calls `start` only for an attempt that begins later. A module
variable the worker compares with, because a call per trivial attempt costs it more than
the attempt's own measurement."""


class _Mark:
    """The worker's state between attempts (the one instance `_at`, set up by `_prepare` in
    each new process). An instance, not class attributes: writing an attribute of a class
    invalidates the interpreter's lookup caches for that class, which slowed every read
    of it too, on every attempt."""

    __slots__ = ("children", "cpu", "from_status", "index", "mark", "owed", "pid", "read_by",
                 "slots")

    def __init__(self) -> None:
        self.pid = 0
        self.cpu = 0.0
        self.children = 0.0
        self.read_by = 0.0
        """When (wall clock) the counters are read again even after a short attempt."""
        self.owed = 0.0
        """Wall seconds of short attempts since the last reading, already charged as CPU."""
        self.mark = 0
        self.from_status = False
        """Read the mark from /proc/self/status: `ru_maxrss` reports one this process never
        reached (a spawned process's starts at its parent's size)."""
        self.slots: Any = None
        self.index = 0
        """Where in `slots` the worker publishes its mark (see `publish`)."""


_at = _Mark()


def publish(slots: Any, index: int) -> None:
    """Keep the mark, from which the next attempt's growth counts, at `slots[index]` (the
    worker's slot row), written whenever it changes: the runner's sampling counts an
    attempt's process tree from there."""
    _at.slots, _at.index = slots, index
    slots[index] = _at.mark


def _mark(usage: Any) -> int:
    return peak_of_process() if _at.from_status else int(usage.ru_maxrss) * _KIB


def _reset_mark() -> None:
    """Bring the high-water mark down to the current size, where the kernel allows it."""
    try:
        with open(_CLEAR_REFS, "w") as refs:
            refs.write("5")
    except OSError:
        pass
    _at.mark = _mark(_getrusage(_SELF)) if _getrusage is not None else 0
    if _at.slots is not None:
        _at.slots[_at.index] = _at.mark


def _prepare() -> None:
    """First use in this process: the mark is reset, and `ru_maxrss` trusted only if it
    then follows this process's own (within a few pages)."""
    _at.pid = os.getpid()
    _reset_mark()
    _at.from_status = _at.mark > peak_of_process() + 64 * _PAGE
    _reset_mark()


def start(now: float) -> None:
    """An attempt begins (`now`, wall clock) at or after `fresh_until`: the counters are
    read, so that its end counts from here."""
    if _getrusage is None:
        return
    if _at.pid != os.getpid():
        _prepare()
    me, children = _getrusage(_SELF), _getrusage(_CHILDREN)
    _at.cpu = me.ru_utime + me.ru_stime
    _at.children = children.ru_utime + children.ru_stime
    _at.read_by, _at.owed = now + READ_EVERY, 0.0


def stop(started: float, now: float) -> tuple[int, float]:
    """The attempt that began at `started` ended `now`: (bytes it added at its peak, CPU
    seconds it used). A short attempt is charged its wall time (see `SHORT`); the memory
    it added is found at the next reading."""
    global fresh_until
    fresh_until = now + FRESH_AFTER
    wall = now - started
    if wall < SHORT and now < _at.read_by:
        _at.owed += wall
        return 0, wall
    if _getrusage is None:
        return 0, 0.0
    me = _getrusage(_SELF)
    cpu = me.ru_utime + me.ru_stime
    used, _at.cpu = cpu - _at.cpu - _at.owed, cpu
    _at.read_by, _at.owed = now + READ_EVERY, 0.0
    mark = _mark(me)
    added = mark - _at.mark if mark > _at.mark else 0
    if added:
        _reset_mark()
    if wall >= SHORT:
        children = _getrusage(_CHILDREN)
        reaped = children.ru_utime + children.ru_stime
        reaped, _at.children = reaped - _at.children, reaped
        if reaped > 0:  # children it started and waited for: the largest of them
            added += int(children.ru_maxrss) * _KIB
            used += reaped
    return added, used if used > 0 else 0.0


def whole_process(outcome: Outcome) -> Outcome:
    """The outcome of a process that ran this one attempt and nothing else: the whole
    process is the task, so it counts all its CPU and its own peak with its children's."""
    if _getrusage is None:
        return outcome
    me, children = _getrusage(_SELF), _getrusage(_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
    peak = peak_of_process() + int(children.ru_maxrss) * _KIB
    return amend(outcome, peak_rss=max(peak, outcome.peak_rss), cpu_time=cpu)
