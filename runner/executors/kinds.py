"""Which executor runs a job's attempts, and what each kind can do.

Capabilities are declared here, next to the choice, so that reading them imports no
adapter: a job of commands never imports multiprocessing and the pools.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from runner.executors.base import Capabilities, Executor, ExecutorSetup, Running

_POOL = Capabilities(batches=True, spans=True, process_per_call=False, places_per_worker=1,
                     commands_on_workers=False)
_CAPABILITIES = {
    "pool": _POOL,
    "mp-pool": _POOL,
    "process": Capabilities(batches=False, spans=False, process_per_call=True,
                            places_per_worker=1, commands_on_workers=False),
    # each Dask task costs a round trip to the scheduler, so more must be in flight,
    # and short calls go several to a task
    "dask": Capabilities(batches=True, spans=False, process_per_call=False,
                         places_per_worker=8, commands_on_workers=True),
}


def capabilities(kind: str) -> Capabilities:
    return _CAPABILITIES[kind]


def open_executors(setup: ExecutorSetup) -> tuple[Executor, Executor]:
    """The executor for callables and the one for commands. Dask runs both; otherwise the
    callables' executor is made at its first attempt, so that a job of commands never
    imports multiprocessing and the pools."""
    from runner.executors.commands import CommandExecutor

    if setup.kind == "dask":
        from runner.executors.dask import DaskExecutor

        dask = DaskExecutor(setup)
        return dask, dask
    return _Deferred(setup, _callables_executor), CommandExecutor(setup)


def _callables_executor(setup: ExecutorSetup) -> Executor:
    if setup.kind == "process":
        from runner.executors.process import ProcessExecutor

        return ProcessExecutor(setup)
    if setup.kind == "mp-pool":
        from runner.executors.mppool import MultiprocessingPoolExecutor

        return MultiprocessingPoolExecutor(setup)
    from runner.executors.pool import PoolExecutor

    return PoolExecutor(setup)


class _Deferred:
    """An executor made when the first attempt is submitted; until then it runs nothing,
    so there is nothing to stop or shut down."""

    def __init__(self, setup: ExecutorSetup, make: Callable[[ExecutorSetup], Executor]) -> None:
        self._setup = setup
        self._make = make
        self._made: Executor | None = None

    def submit(self, batch: Sequence[Any]) -> None:
        if self._made is None:
            self._made = self._make(self._setup)
        self._made.submit(batch)

    def running(self) -> list[Running]:
        return self._made.running() if self._made else []

    def stop(self, key: int, signum: int) -> None:
        if self._made:
            self._made.stop(key, signum)

    def close(self) -> None:
        if self._made:
            self._made.close()

    def shutdown(self, wait: bool) -> None:
        if self._made:
            self._made.shutdown(wait)
