"""The hand-written baselines `runner` is measured against, each run as its own process.

    python benchmarks/baselines.py APPROACH COUNT WORKERS

Callable approaches compute `bench_tasks.square(i)` for i in range(COUNT) (the
harness puts the generated `bench_tasks` module on PYTHONPATH, the same
function `runner` calls) and print `COUNT SUM`, so the harness can check they
did all the work. `spawn` runs COUNT `true` commands, WORKERS at a time, and
prints how many exited 0. Each approach imports only what it uses: the
baselines' start-up is part of what is measured, as it is for `runner`.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable


def _square() -> Callable[[int], int]:
    from bench_tasks import square  # type: ignore[import-not-found]

    return square  # type: ignore[no-any-return]


def _chunksize(count: int, workers: int) -> int:
    """Four chunks per worker, as `multiprocessing.Pool.map` picks by default: few enough
    messages to be cheap, enough to balance the load."""
    return max(1, math.ceil(count / (4 * workers)))


def submit_loop(count: int, workers: int) -> list[int]:
    """The seed's way: one future per task, submitted at once, read back in order."""
    from concurrent.futures import ProcessPoolExecutor

    square = _square()
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(square, i) for i in range(count)]
        return [future.result() for future in futures]


def executor_map(count: int, workers: int) -> list[int]:
    """`ProcessPoolExecutor.map` with a chunksize: the stdlib's fast path."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_square(), range(count), chunksize=_chunksize(count, workers)))


def mp_pool_map(count: int, workers: int) -> list[int]:
    """`multiprocessing.Pool.map`, chunked: the fastest stdlib pool for tiny tasks."""
    import multiprocessing

    with multiprocessing.Pool(workers) as pool:
        return pool.map(_square(), range(count), chunksize=_chunksize(count, workers))


def joblib_parallel(count: int, workers: int) -> list[int]:
    """joblib's default (loky) backend with automatic batching, as most users call it."""
    from joblib import Parallel, delayed  # type: ignore[import-untyped, import-not-found, unused-ignore]

    square = _square()
    return list(Parallel(n_jobs=workers)(delayed(square)(i) for i in range(count)))


def spawn_loop(count: int, workers: int) -> int:
    """`true` via posix_spawnp, at most `workers` at once, reaped with waitpid: the floor
    for starting commands from Python without a worker in between."""
    argv, running, succeeded = ["true"], 0, 0
    for _ in range(count):
        if running == workers:
            succeeded += _reap_one()
            running -= 1
        os.posix_spawnp(argv[0], argv, os.environ)
        running += 1
    for _ in range(running):
        succeeded += _reap_one()
    return succeeded


def _reap_one() -> int:
    _, status = os.waitpid(-1, 0)
    return int(os.waitstatus_to_exitcode(status) == 0)


CALLABLES: dict[str, Callable[[int, int], list[int]]] = {
    "submit": submit_loop,
    "executor-map": executor_map,
    "mp-map": mp_pool_map,
    "joblib": joblib_parallel,
}


def main(argv: list[str]) -> int:
    approach, count, workers = argv[0], int(argv[1]), int(argv[2])
    if approach == "spawn":
        print(spawn_loop(count, workers))
        return 0
    results = CALLABLES[approach](count, workers)
    print(len(results), sum(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
