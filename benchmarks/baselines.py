"""The hand-written baselines `runner` is measured against, each run as its own process.

    python benchmarks/baselines.py APPROACH COUNT WORKERS

Callable approaches compute `bench_tasks.square(i)` for i in range(COUNT) (the
harness puts the generated `bench_tasks` module on PYTHONPATH, the same
function `runner` calls) and print `COUNT SUM`, so the harness can check they
did all the work. `spawn` runs COUNT `true` commands, WORKERS at a time, and
prints how many exited 0; `spawn-hygienic` does so as the runner would. Each
approach imports only what it uses: the baselines' start-up is part of what is
measured, as it is for `runner`.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
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


def dask_map(count: int, workers: int) -> list[int]:
    """A raw `client.map` + `gather` on a LocalCluster of `workers` single-threaded
    processes, started and closed here: what a Dask user writes by hand."""
    import logging

    from distributed import Client, LocalCluster  # type: ignore[import-untyped, unused-ignore]

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        return list(client.gather(client.map(_square(), range(count), pure=False)))


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


def hygienic_spawn_loop(count: int, workers: int) -> int:
    """The floor for `runner` itself: its dependencies imported, and each command started
    as the runner starts one (own session, stdin from /dev/null, stdout and stderr on
    pipes that are read, a pidfd watched with epoll, the group killed once it exits),
    but nothing else: no validation, engine, journal or console. Linux only."""
    import select
    import signal

    import psutil  # noqa: F401
    import typer  # noqa: F401
    import yaml  # noqa: F401
    from pydantic import BaseModel  # noqa: F401

    program = shutil.which("true") or "/bin/true"
    poller, running, started, succeeded = select.epoll(), {}, 0, 0

    def start() -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
        pid = os.posix_spawn(program, [program], os.environ, file_actions=actions, setsid=True)
        os.close(out_w)
        os.close(err_w)
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.EPOLLIN)
        running[pidfd] = (pid, out_r, err_r)

    while started < min(workers, count):
        start()
        started += 1
    while running:
        for pidfd, _ in poller.poll():
            pid, out_r, err_r = running.pop(pidfd)
            poller.unregister(pidfd)
            os.close(pidfd)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            succeeded += int(os.waitstatus_to_exitcode(status) == 0)
            for fd in (out_r, err_r):
                os.read(fd, 65536)
                os.close(fd)
            if started < count:
                start()
                started += 1
    return succeeded


SPAWNS: dict[str, Callable[[int, int], int]] = {
    "spawn": spawn_loop,
    "spawn-hygienic": hygienic_spawn_loop,
}
CALLABLES: dict[str, Callable[[int, int], list[int]]] = {
    "submit": submit_loop,
    "executor-map": executor_map,
    "mp-map": mp_pool_map,
    "joblib": joblib_parallel,
    "dask-map": dask_map,
}


def main(argv: list[str]) -> int:
    approach, count, workers = argv[0], int(argv[1]), int(argv[2])
    if approach in SPAWNS:
        print(SPAWNS[approach](count, workers))
        return 0
    results = CALLABLES[approach](count, workers)
    print(len(results), sum(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
