"""A dead pool worker's exit status, read by the runner while the pool's own thread
reads it too. Under forkserver the status arrives once, on a pipe from the fork
server: of two readers, one gets it and the other gets end of file, which
multiprocessing records as exit code 255 in place of the real one. A task that
SIGKILLed itself was reported as `ProcessExited, code 255` that way, now and then."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from runner.executors.slots import SlotTable, exit_code, starting_generation, tracked_context
from runner.worker import child
from runner.worker.work import WorkerSetup

pytestmark = pytest.mark.timeout(120)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


# Python 3.12+ warns about fork in a process with threads (this test's, and pytest's);
# the child only kills itself, so there is no lock it could inherit held.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
def test_the_status_survives_a_second_reader(start_method: str) -> None:
    context = tracked_context(start_method)
    generation = 7_000 + ["fork", "spawn", "forkserver"].index(start_method)
    starting_generation(generation)
    for _ in range(25):
        process = context.Process(target=_die)
        process.start()
        pool_thread = threading.Thread(target=process.join)  # as the pool joins its dead
        pool_thread.start()
        seen = exit_code(generation, process.pid)
        pool_thread.join(timeout=30)
        assert process.exitcode == -signal.SIGKILL
        assert seen in (-signal.SIGKILL, None)
        assert not psutil.pid_exists(process.pid) or \
            psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE


def _running_attempt_7(config: WorkerSetup, ready: Any) -> None:
    """A pool worker in the middle of attempt 7."""
    child.setup(config)
    config.slots[child.State.slot + child.SLOT_KEY] = 7.0
    ready.set()
    time.sleep(60)


def _exit_before_taking_a_row() -> None:
    os._exit(3)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("another_died", [True, False])
def test_a_worker_stopped_with_a_broken_pool_is_blamed_only_when_nothing_else_died(
        start_method: str, another_died: bool, tmp_path: Path) -> None:
    """The pool SIGTERMs every worker once one has died. The attempt running in a worker
    it stopped that way is blamed only when no other worker died otherwise (then the task
    signalled itself); a worker that died before it took a row broke the pool, and the
    attempt is not to blame, though that worker has no row to show for it."""
    context = tracked_context(start_method)
    generation = 7_100 + 2 * ["fork", "spawn", "forkserver"].index(start_method) + another_died
    starting_generation(generation)
    (tmp_path / "capture").mkdir()
    table = SlotTable(context, 2, str(tmp_path / "capture"))
    config = WorkerSetup("t" * 12, os.getpid(), psutil.Process().create_time(), str(tmp_path),
                         table.array, table.lock, generation, capture=str(tmp_path / "capture"))
    ready = context.Event()
    worker = context.Process(target=_running_attempt_7, args=(config, ready))
    worker.start()
    try:
        assert ready.wait(60)
        if another_died:
            early = context.Process(target=_exit_before_taking_a_row)
            early.start()
            early.join(30)
            assert early.exitcode == 3
        worker.terminate()  # as the broken pool stops every worker left
        worker.join(30)
        assert worker.exitcode == -signal.SIGTERM
        blamed = [culprit.key for culprit in table.culprits(generation)]
        assert blamed == ([] if another_died else [7])
    finally:
        worker.kill()
        worker.join(30)
        table.forget(generation)
    assert not psutil.pid_exists(worker.pid)
