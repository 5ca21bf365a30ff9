"""A minimal single-threaded event loop: file descriptors, timers, and wake-ups from threads.

The engine runs on this loop in the main thread so that all run state has one
owner. Pools deliver results from their own threads through `call_soon_threadsafe`;
process sentinels, pidfds and output pipes are watched with a selector;
signal handlers only set a flag and `wake()` the loop. asyncio would do, but
costs its import and hides fork-safety questions this small loop answers in
plain sight (see `close`).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import selectors
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Callback = Callable[[], None]


class Timer:
    """A scheduled call; `cancel()` makes it a no-op."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callback) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._timers: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._ready: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()

    def add_reader(self, fd: int, callback: Callback) -> None:
        self._selector.register(fd, selectors.EVENT_READ, callback)

    def remove_reader(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)

    def call_at(self, when: float, callback: Callback) -> Timer:
        timer = Timer(when, callback)
        heapq.heappush(self._timers, (when, next(self._sequence), timer))
        return timer

    def call_later(self, delay: float, callback: Callback) -> Timer:
        return self.call_at(time.monotonic() + delay, callback)

    def call_soon_threadsafe(self, callback: Callable[..., None], *args: Any) -> None:
        """Queue a call from any thread (a pool's result thread, a signal handler)."""
        self._ready.append((callback, args))
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    def run_once(self, max_wait: float | None = None) -> None:
        """Wait for something to happen (at most until the next timer) and handle it."""
        timeout = self._timeout(max_wait)
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._drain_wake_pipe()
            else:
                key.data()
        self._run_ready()
        self._run_due_timers()

    def _timeout(self, max_wait: float | None) -> float | None:
        if self._ready:
            return 0
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return max_wait
        until_timer = max(0.0, self._timers[0][0] - time.monotonic())
        return until_timer if max_wait is None else min(until_timer, max_wait)

    def _drain_wake_pipe(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._wake_r, 4096):
                pass

    def _run_ready(self) -> None:
        for _ in range(len(self._ready)):
            callback, args = self._ready.popleft()
            callback(*args)

    def _run_due_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.callback()

    def close(self) -> None:
        """Release the selector and the wake pipe. Worker processes forked from the
        runner inherit these descriptors but never use them: they reset the signal
        wake-up fd first thing (worker.setup) and this loop has no at-fork hooks."""
        self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
