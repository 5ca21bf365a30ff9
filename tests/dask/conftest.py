"""Fixtures for `executor: dask`: `runner run` as a real process on real clusters, and
proof that nothing a test started outlives it.

Every runner a test starts carries a fresh marker in its environment; LocalCluster
workers and the commands they run inherit it, so psutil finds stragglers even after
they were reparented. The cluster started for the `address` tests is checked the other
way the brief asks for: the test process's descendants before and after.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.conftest import JobRunner

BIN = Path(sys.executable).parent
TASKS = Path(__file__).with_name("dask_tasks.py")


@pytest.fixture
def job_folder(tmp_path: Path, marker: str) -> JobRunner:
    """A job folder holding `dask_tasks.py`; the `marker` fixture fails the test if any
    process its runs started is still alive."""
    shutil.copy(TASKS, tmp_path / TASKS.name)
    return JobRunner(tmp_path, marker)


def descendants() -> set[tuple[int, float]]:
    """This test process's descendants, by pid and start time (a reused pid is not one)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            found.add((child.pid, child.create_time()))
        except psutil.Error:
            continue
    return found


@dataclass
class Cluster:
    address: str
    nanny_pids: set[int]  # the `dask worker` processes: parents of every worker, restarted or not


@pytest.fixture(scope="module")
def remote_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`dask scheduler` and two `dask worker` processes, started the way a user would, in a
    folder that does not hold the job's modules (so imports there prove the upload)."""
    distributed = pytest.importorskip("distributed")
    before = descendants()
    where = tmp_path_factory.mktemp("cluster")
    scheduler_file = where / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    started = [subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
         "--scheduler-file", str(scheduler_file)],
        cwd=where, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        address = _scheduler_address(scheduler_file)
        started += [subprocess.Popen(
            [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
            cwd=where, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(2)]
        with distributed.Client(address, timeout=20, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=30)
            nannies = set(client.run(os.getppid).values())
        yield Cluster(address, nannies)
    finally:
        _stop_all(started)
        deadline = time.monotonic() + 15.0
        while (left := descendants() - before) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid, _ in left:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        assert not left, f"processes the cluster fixture started survived: {sorted(left)}"


def _scheduler_address(scheduler_file: Path) -> str:
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        try:
            return str(json.loads(scheduler_file.read_text())["address"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise AssertionError("dask scheduler did not write its scheduler file in 30 s")


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """Workers first, then the scheduler (a worker whose scheduler is gone retries for a
    while): SIGTERM, which the dask CLIs answer by closing nannies and workers; SIGKILL
    to the whole tree after 10 s."""
    for group in (processes[1:], processes[:1]):
        for process in group:
            process.send_signal(signal.SIGTERM)
        for process in group:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(psutil.Error):
                    for member in psutil.Process(process.pid).children(recursive=True):
                        member.kill()
                process.kill()
                process.wait(timeout=5)
