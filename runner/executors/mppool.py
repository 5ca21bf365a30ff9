"""`executor: mp-pool`: the older `multiprocessing.Pool` (`apply_async`, `close`, `join`).

`multiprocessing.Pool` replaces a worker that dies, but the task that worker
was running never completes: its result simply never arrives. The slot table
tells which attempt a dead worker held, so `running()` (called on every
engine tick) reports that attempt as lost instead of waiting forever, and
the other workers carry on untouched. Recycling uses the pool's own
`maxtasksperchild`, which works here (the engine sends one task per batch
when it is set).
"""

from __future__ import annotations

import itertools
import multiprocessing.pool
from typing import Any

from runner.executors.base import ExecutorSetup, Loss, Running, capture_folder
from runner.executors.messages import deliver, pool_call
from runner.executors.slots import (
    SlotTable,
    ended,
    starting_generation,
    tracked_context,
)
from runner.system import procs
from runner.worker.child import setup

_GENERATION = 1


class _Pool(multiprocessing.pool.Pool):
    """A pool that cannot hang while failing to start: when starting its workers fails
    half-way (no descriptor left), the standard pool SIGTERMs those it started and waits
    for each, and a worker that misses that SIGTERM while it sets itself up keeps the wait
    going for good. SIGKILL cannot be missed."""

    def _repopulate_pool(self) -> None:
        try:
            super()._repopulate_pool()  # type: ignore[misc]
        except Exception:
            for worker in self._pool:  # type: ignore[attr-defined]
                if worker.exitcode is None:
                    worker.kill()
            raise


class MultiprocessingPoolExecutor:
    def __init__(self, setup: ExecutorSetup) -> None:
        self._setup = setup
        self._context = tracked_context(setup.start_method)
        self._slots = SlotTable(self._context, setup.workers, capture_folder(setup))
        self._pool: multiprocessing.pool.Pool | None = None
        self._batches: dict[int, list[int]] = {}
        self._batch_ids = itertools.count()
        self._lost_any = False

    def _current_pool(self) -> multiprocessing.pool.Pool:
        if self._pool is None:
            config = self._setup.worker._replace(
                slots=self._slots.array, slots_lock=self._slots.lock, generation=_GENERATION)
            starting_generation(_GENERATION)
            self._pool = _Pool(
                self._setup.workers, initializer=setup, initargs=(config,),
                maxtasksperchild=self._setup.max_tasks_per_worker,
                context=self._context)
        return self._pool

    def submit(self, batch: Any) -> None:
        batch_id = next(self._batch_ids)
        function, argument, keys = pool_call(batch)
        self._batches[batch_id] = keys
        call = self._setup.loop.call_soon_threadsafe
        self._current_pool().apply_async(
            function, (argument,),
            callback=lambda reply: call(self._done, batch_id, reply),
            error_callback=lambda error: call(self._done, batch_id, error))

    def _done(self, batch_id: int, reply: Any) -> None:
        keys = self._batches.pop(batch_id, None)
        if keys is None:
            return  # reported lost when its worker died
        declined = deliver(self._setup.listener, keys, reply)
        if declined:
            self._setup.listener.lost(Loss([], declined))

    def close(self) -> None:
        self._slots.close()

    def running(self) -> list[Running]:
        """Attempts running now; notices workers that died with an attempt in hand.

        A dead worker's row is read again once it is known dead: between the first read
        and that check, a live worker may have finished its attempt, run a few more and
        died in the last, and the first read would blame the wrong one (and leave the
        one it died in waiting for a result that never comes)."""
        seen = self._slots.running(_GENERATION)
        dead_pids = {r.pid for r in seen if ended(_GENERATION, r.pid)}
        if not dead_pids:
            return seen
        dead = [r for r in self._slots.running(_GENERATION) if r.pid in dead_pids]
        if dead:
            self._lost([r.key for r in dead], [r.pid for r in dead])
        return [r for r in seen if r.pid not in dead_pids]

    def _lost(self, keys: list[int], pids: list[int]) -> None:
        culprits, orphans = [], []  # each read before its row is cleared, output and all
        for key, pid in zip(keys, pids):
            culprits.append(self._slots.culprit(_GENERATION, pid, key))
            self._slots.clear(pid)
            for batch_id, batch_keys in list(self._batches.items()):
                if key in batch_keys:
                    del self._batches[batch_id]
                    orphans += [k for k in batch_keys if k != key]
        self._lost_any = True
        self._setup.listener.lost(Loss(culprits, orphans))

    def stop(self, key: int, signum: int) -> None:
        pid = self._slots.pid_running(key, _GENERATION)
        if pid is not None:
            self._lost_any = True  # the signal may hit a worker holding the queue's lock
            procs.send(procs.tree(pid), signum)

    def shutdown(self, wait: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            self._shut(pool, wait)

    def _shut(self, pool: multiprocessing.pool.Pool, wait: bool) -> None:
        pids = self._slots.pids(_GENERATION)
        if wait and not self._lost_any and not self._batches:
            pool.close()
            pool.join()
        else:
            _terminate_bounded(pool)
            procs.kill_trees(pids)
        self._slots.forget(_GENERATION)


def _terminate_bounded(pool: multiprocessing.pool.Pool, seconds: float = 5.0) -> None:
    """`Pool.terminate()`, but never forever: it takes the task queue's lock, and a worker
    that was killed while waiting on that queue (an idle worker, say, hit by `runner kill`)
    died holding it. The pool is abandoned to a daemon thread then; its workers are killed
    by the caller either way."""
    import threading

    closer = threading.Thread(target=pool.terminate, name="mp-pool-terminate", daemon=True)
    closer.start()
    closer.join(seconds)
