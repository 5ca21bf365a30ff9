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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

MARKER = "RUNNER_DASK_TEST_MARKER"
BIN = Path(sys.executable).parent
RUNNER = str(BIN / "runner")
TASKS = Path(__file__).with_name("dask_tasks.py")


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    journal: list[dict[str, Any]]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.journal if e["event"] == kind]

    def final(self) -> dict[str, dict[str, Any]]:
        """Task id -> its final task_finished record."""
        return {e["task"]: e for e in self.events("task_finished") if e["final"]}


@dataclass
class JobFolder:
    """A folder holding `dask_tasks.py`, where job files are written and run."""

    path: Path
    marker: str

    def write(self, text: str, name: str = "job.yml") -> Path:
        target = self.path / name
        target.write_text(text)
        return target

    def start(self, job: Path, *args: str, journal: str = "journal.jsonl",
              **popen: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [RUNNER, "run", str(job), "--journal", str(self.path / journal), *args],
            cwd=self.path, env={**os.environ, MARKER: self.marker, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)

    def run(self, job: Path, *args: str, journal: str = "journal.jsonl",
            timeout: float = 60.0) -> Finished:
        began = time.monotonic()
        process = self.start(job, *args, journal=journal)
        return self.finish(process, began, journal, timeout)

    def finish(self, process: subprocess.Popen[str], began: float, journal: str,
               timeout: float = 60.0) -> Finished:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"runner did not finish in {timeout}s:\n{stdout}\n{stderr}")
        path = self.path / journal
        lines = path.read_text().splitlines() if path.exists() else []
        return Finished(process.returncode, stdout, stderr, time.monotonic() - began,
                        [json.loads(line) for line in lines if line.strip()])


def _marked(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER) == marker:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.fixture
def job_folder(tmp_path: Path) -> Iterator[JobFolder]:
    """A job folder; fails the test if any process its runs started is still alive."""
    marker = uuid.uuid4().hex
    shutil.copy(TASKS, tmp_path / TASKS.name)
    yield JobFolder(tmp_path, marker)
    deadline = time.monotonic() + 10.0
    while (left := _marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in left:
        process.kill()
    assert not left, f"processes outlived the test: {[p.cmdline() for p in left]}"


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
