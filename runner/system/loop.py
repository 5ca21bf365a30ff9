"""A minimal single-threaded event loop: file descriptors, timers, and wake-ups from threads.

The engine runs on this loop in the main thread so that all run state has one
owner. Pools deliver results from their own threads through `call_soon_threadsafe`;
process sentinels, pidfds and output pipes are watched with epoll (poll where
there is none); signal handlers only set a flag and `wake()` the loop. asyncio
would do, but costs its import and hides fork-safety questions this small loop
answers in plain sight (see `close`). Not `selectors` either: its bookkeeping per
registration was a tenth of the runner's time with thousands of short commands,
each of which registers and unregisters three descriptors.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import select
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Callback = Callable[[], None]


class Timer:
    """A scheduled call; `cancel()` makes it a no-op."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callback) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


_EPOLL = hasattr(select, "epoll")


class Loop:
    def __init__(self) -> None:
        self._poller: Any = select.epoll() if _EPOLL else select.poll()
        self._readers: dict[int, Callback] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.add_reader(self._wake_r, self._drain_wake_pipe)
        self._timers: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._ready: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()

    def add_reader(self, fd: int, callback: Callback) -> None:
        """Call `callback` whenever `fd` is readable, or at its end or an error on it."""
        if fd in self._readers:
            raise KeyError(f"{fd} is already watched")
        self._poller.register(fd, select.POLLIN)
        self._readers[fd] = callback

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            try:  # not contextlib.suppress: this runs three times per command
                self._poller.unregister(fd)
            except OSError:  # closed already, which unregistered it
                pass

    def call_at(self, when: float, callback: Callback) -> Timer:
        timer = Timer(callback)
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
        if timeout is not None:  # whole milliseconds, rounded up: no busy loop before a timer
            timeout = math.ceil(timeout * 1000)
        try:
            ready = self._poller.poll(-1 if timeout is None else timeout / 1000) if _EPOLL \
                else self._poller.poll(timeout)
        except InterruptedError:
            ready = []
        # An earlier callback of this round may remove a later descriptor, close it, and a
        # new command reuse its number: that one's callback must not get the old event.
        for fd, callback in [(fd, self._readers.get(fd)) for fd, _ in ready]:
            if callback is not None and self._readers.get(fd) is callback:
                callback()
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
        """Release the poller and the wake pipe. Worker processes forked from the
        runner inherit these descriptors but never use them: they reset the signal
        wake-up fd first thing (worker.setup) and this loop has no at-fork hooks."""
        if _EPOLL:
            self._poller.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
