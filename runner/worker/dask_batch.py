"""What `executor: dask` runs on a dask worker for a batch of short calls: one dask task,
several attempts run in turn, one `Outcome` each.

A dask task costs a round trip through the scheduler, far more than a trivial
call, so the engine sends calls it has measured to be short several to a task.
Each attempt keeps what a dask task of its own has:
- its key in the worker's marker file while it runs (`dask_task.mark`), so a
  worker that dies blames the attempt it was running and no other;
- its own start on the run's event topic, so its timeout counts from there. The
  first attempt is announced at once; the next ones by an `_Announcer` thread
  that wakes every ANNOUNCE_EVERY seconds and says which attempt runs now if that
  changed. A call that runs longer than that is announced with its own start;
  one that ends sooner costs no event at all, and its record comes with the batch.
A run that stops and cancels pending work (`dask_task.close_run`) makes the
batch start nothing more: it returns fewer outcomes than it was given, and the
runner decides about the rest.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from runner.events import Outcome
from runner.worker.child import run_one
from runner.worker.dask_task import (
    MARKER_IDLE,
    DaskRun,
    adopt_run,
    announce,
    closed,
    failed,
    mark,
    process_name,
    threads_refusal,
)
from runner.worker.work import Work

ANNOUNCE_EVERY = 0.02
"""Seconds between two looks at which attempt of a batch runs: how late the runner may
learn that one ended and the next began (below its own tick)."""


class Batch:
    """Attempts sent as one dask task, as plain tuples of Work's fields (they pickle several
    times faster than named ones). A class of its own: dask walks every list and tuple
    given to a task looking for futures, which costs more than running trivial calls."""

    __slots__ = ("works",)

    def __init__(self, works: Sequence[Work]) -> None:
        self.works: list[tuple[Any, ...]] = [tuple(work) for work in works]

    def __getstate__(self) -> list[tuple[Any, ...]]:
        return self.works

    def __setstate__(self, works: list[tuple[Any, ...]]) -> None:
        self.works = works


def execute_batch(batch: Batch, run: DaskRun) -> list[Outcome]:
    """Run the batch's attempts in turn, one outcome each; never raises."""
    from distributed import get_worker

    here = get_worker()
    adopt_run(run)
    refusal = threads_refusal(here)
    if refusal is not None:
        return [failed(fields[0], refusal) for fields in batch.works]
    announcer = _Announcer(here, run)
    outcomes = []
    try:
        for fields in batch.works:
            if closed(run.run_id):
                break
            work = Work._make(fields)
            mark(work.key)
            announcer.starting(work.key, time.time())
            outcomes.append(run_one(work))
    finally:
        mark(MARKER_IDLE)
        announcer.stop()
    return outcomes


class _Announcer:
    """Announces the attempt running now: the first at once, the others from a thread."""

    def __init__(self, here: Any, run: DaskRun) -> None:
        self._here, self._run = here, run
        self._where = (os.getpid(), os.getppid(), process_name())
        self._task = str(here.get_current_task())
        self._current: tuple[int, float] | None = None
        self._said: int | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def starting(self, key: int, started: float) -> None:
        self._current = (key, started)
        if self._thread is None:
            self._say(key, started)
            self._thread = threading.Thread(target=self._watch, name="runner-announcer",
                                            daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(ANNOUNCE_EVERY):
            current = self._current
            if current is not None and current[0] != self._said:
                self._say(*current)

    def _say(self, key: int, started: float) -> None:
        self._said = key
        announce(self._here, self._run, key, *self._where, started, self._task)

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
