"""SIGINT and SIGTERM to the runner, caught as data for the engine's loop.

A Python signal handler runs between two bytecodes of whatever the main
thread is doing, possibly in the middle of the engine changing its state. So
the handler only queues the signal and wakes the loop; the engine acts on it
at a safe point. Handlers are installed only from the main thread (the only
one Python lets install them) and the previous ones are put back afterwards.

`runner kill` says how it wants a run stopped (at once, or with a grace of its
own) in a stop request it leaves before its SIGTERM; a SIGTERM is handed to the
engine together with that request, read at the same safe point.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from runner.system.registry import StopRequest, take_stop_request

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalCatcher:
    def __init__(self, wake: Callable[[], None], run_id: str) -> None:
        self.pending: deque[int] = deque()
        self._wake = wake
        self._run_id = run_id
        self._previous: dict[int, Any] = {}
        self._pid = os.getpid()

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._caught)

    @contextlib.contextmanager
    def installed(self, enabled: bool = True) -> Iterator[None]:
        """Caught while the block runs, however it ends: a handler left behind after an
        error would swallow the Ctrl-C meant to end whatever comes next."""
        if enabled:
            self.install()
        try:
            yield
        finally:
            self.restore()

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _caught(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:
            # A forked worker that has not set its own handlers yet: a pool tearing itself
            # down (a worker that failed to start) waits for it to die of this signal.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.pending.append(signum)
        self._wake()

    def take(self) -> tuple[int, StopRequest] | None:
        """The next signal caught, with how `runner kill` asked to stop (a plain SIGTERM,
        or a SIGINT, asks for the job's `shutdown` policy)."""
        if not self.pending:
            return None
        signum = self.pending.popleft()
        request = take_stop_request(self._run_id) if signum == signal.SIGTERM else None
        return signum, request or StopRequest()
