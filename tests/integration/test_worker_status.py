"""A dead pool worker's exit status, read by the runner while the pool's own thread
reads it too. Under forkserver the status arrives once, on a pipe from the fork
server: of two readers, one gets it and the other gets end of file, which
multiprocessing records as exit code 255 in place of the real one. A task that
SIGKILLed itself was reported as `ProcessExited, code 255` that way, now and then."""

from __future__ import annotations

import os
import signal
import threading

import psutil
import pytest

from runner.executors.slots import exit_code, starting_generation, tracked_context

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
