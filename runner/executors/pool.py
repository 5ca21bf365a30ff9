"""`executor: pool`: `concurrent.futures.ProcessPoolExecutor`, made crash-proof from outside.

The stdlib pool fails every pending future with `BrokenProcessPool` when one
worker dies and terminates the others. This adapter turns that into a `Loss`
naming the dead worker, its exit code and the attempt it ran (read from the
slot table), lists every other attempt that was in flight as an orphan for the
engine to resubmit, and starts a fresh pool ("generation") on the next
submit. `max_tasks_per_worker` does not use the stdlib's `max_tasks_per_child`
(it can hang, CPython gh-115634, and refuses the fork start method): workers
decline work past the limit, and the whole generation is replaced once it has
drained.
"""

from __future__ import annotations

import contextlib
import itertools
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from runner.executors.base import ExecutorSetup, Loss, Running, capture_folder
from runner.executors.messages import deliver, pool_call
from runner.executors.slots import SlotTable, starting_generation, tracked_context
from runner.system import procs
from runner.worker.child import setup


class PoolExecutor:
    def __init__(self, setup: ExecutorSetup) -> None:
        self._setup = setup
        self._context = tracked_context(setup.start_method)
        self._slots = SlotTable(self._context, setup.workers, capture_folder(setup))
        self._generation = 0
        self._pool: ProcessPoolExecutor | None = None
        self._batches: dict[int, tuple[int, list[int]]] = {}
        self._batch_ids = itertools.count()
        self._retiring: list[tuple[int, ProcessPoolExecutor]] = []
        self._broken: set[int] = set()
        self._closing: list[tuple[int, ProcessPoolExecutor]] = []
        self._signalled = False

    def submit(self, batch: Any) -> None:
        pool = self._current_pool()
        starting_generation(self._generation)
        batch_id = next(self._batch_ids)
        function, argument, keys = pool_call(batch)
        self._batches[batch_id] = (self._generation, keys)
        try:
            future = pool.submit(function, argument)
        except BrokenProcessPool:  # broken before its futures told us: report it from the loop
            self._setup.loop.call_soon_threadsafe(self._on_broken, self._generation)
            return
        generation = self._generation
        future.add_done_callback(
            lambda f: self._setup.loop.call_soon_threadsafe(self._done, generation, batch_id,
                                                            keys, f))

    def _current_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._generation += 1
            config = self._setup.worker._replace(
                slots=self._slots.array, slots_lock=self._slots.lock,
                generation=self._generation, max_tasks=self._setup.max_tasks_per_worker)
            self._pool = ProcessPoolExecutor(self._setup.workers, mp_context=self._context,
                                             initializer=setup, initargs=(config,))
        return self._pool

    def _done(self, generation: int, batch_id: int, keys: list[int], future: Future[Any]) -> None:
        if batch_id not in self._batches:
            return  # already reported lost with its generation
        error = future.exception()
        if isinstance(error, BrokenProcessPool):
            self._on_broken(generation)
            return
        self._batches.pop(batch_id)
        declined = deliver(self._setup.listener, keys, error or future.result())
        if declined:
            self._decline(generation, declined)
        self._retire_drained()

    def _decline(self, generation: int, keys: list[int]) -> None:
        """A worker declined work: it reached max_tasks_per_worker (retire this generation
        once it drains), or the table was closed (a stop). The engine decides about the
        rest either way."""
        recycling = self._setup.max_tasks_per_worker is not None
        if recycling and generation == self._generation and self._pool is not None:
            self._retiring.append((generation, self._pool))
            self._pool = None
        self._setup.listener.lost(Loss([], keys))

    def _retire_drained(self) -> None:
        """A drained generation is told to shut down, without waiting for it here: the
        engine's loop must never block on a pool (it has timeouts to enforce); the final
        `shutdown` waits for whatever is still closing."""
        busy = {generation for generation, _ in self._batches.values()}
        for generation, pool in list(self._retiring):
            if generation not in busy:
                self._retiring.remove((generation, pool))
                pool.shutdown(wait=False)
                self._closing.append((generation, pool))

    def _on_broken(self, generation: int) -> None:
        """One worker died and the stdlib pool failed every future with it. Blame the dead
        workers the pool did not take down itself; every other attempt in flight is an
        orphan. Then make sure nothing of that generation lives on."""
        if generation in self._broken:
            return
        self._broken.add(generation)
        lost: list[int] = []
        for batch_id, (gen, keys) in list(self._batches.items()):
            if gen == generation:
                del self._batches[batch_id]
                lost.extend(keys)
        culprits = self._slots.culprits(generation)
        pids = self._slots.pids(generation)
        blamed = {c.key for c in culprits}
        if generation == self._generation and self._pool is not None:
            pool, self._pool = self._pool, None
        else:
            pool = None
        procs.kill_trees(pids)
        # read once every worker of the generation is gone and before its rows are freed,
        # so that an attempt whose worker went down with the pool keeps what it wrote
        outputs = self._slots.outputs(generation, set(pids))
        self._release_generation(generation, pool)
        orphans = [k for k in dict.fromkeys(lost) if k not in blamed]
        self._setup.listener.lost(Loss(culprits, orphans, outputs))

    def close(self) -> None:
        """Queued work is not to be started: workers decline what they have not begun."""
        self._slots.close()

    def running(self) -> list[Running]:
        return self._slots.running(self._generation)

    def stop(self, key: int, signum: int) -> None:
        pid = self._slots.pid_running(key, self._generation)
        if pid is not None:
            self._signalled = True
            procs.send(procs.tree(pid), signum)

    def shutdown(self, wait: bool) -> None:
        """Once a stop has signalled a worker, the pool cannot be closed politely: the signal
        may have landed just after the task ended, on a worker waiting for its next one
        while holding the task queue's lock, and the others then wait for that lock (and
        the pool for them) forever. Its workers are killed instead."""
        pools = [*self._closing, *self._retiring]
        if self._pool is not None:
            pools.append((self._generation, self._pool))
        try:
            for generation, pool in pools:
                if wait and not self._signalled:
                    pool.shutdown(wait=True)
                    self._slots.forget(generation)
                else:
                    self._kill_generation(generation, pool)
        finally:
            self._pool, self._closing, self._retiring = None, [], []

    def _kill_generation(self, generation: int, pool: ProcessPoolExecutor | None) -> None:
        """Kill a generation's workers and their trees, then let its pool go."""
        procs.kill_trees(self._slots.pids(generation))
        self._release_generation(generation, pool)

    def _release_generation(self, generation: int, pool: ProcessPoolExecutor | None) -> None:
        """Let a generation whose workers are dead go: its pool, then its rows."""
        if pool is not None:
            _shut_down_killed(pool)
        self._slots.forget(generation)


def _shut_down_killed(pool: ProcessPoolExecutor) -> None:
    """Shut down a pool whose workers this executor has just killed.

    A worker killed in the middle of sending a result leaves half a message in the result
    pipe, and the pool's manager thread then waits for the rest of it forever: the pipe
    never reports end-of-file because this process holds its write end too. Nothing will
    write to it any more, so that end is closed first (a private attribute; the standard
    library offers no public way out of this hang), and the thread sees a broken pool."""
    writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
    if writer is not None:
        with contextlib.suppress(OSError):
            writer.close()
    pool.shutdown(wait=True, cancel_futures=True)
