"""Shared fixtures: run `runner` as a real process and prove nothing it started survives.

Every test that starts processes gets a unique marker in the environment of
the runner it launches; every descendant inherits it (through fork, spawn,
forkserver and exec alike), so psutil can find stragglers independently of
the runner's own bookkeeping, even after they were reparented.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

MARKER = "RUNNER_TEST_MARKER"
RUNNER = str(Path(sys.executable).with_name("runner"))
REPO = Path(__file__).resolve().parent.parent
START_METHODS = ["fork", "spawn", "forkserver"]


def marked_processes(marker: str) -> list[psutil.Process]:
    """Live processes carrying the marker (a zombie is as good as gone)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER) == marker \
                    and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def wait_until_gone(marker: str, timeout: float = 15.0) -> tuple[float, list[psutil.Process]]:
    """Poll until no process carries the marker: how long it took, and the survivors
    after `timeout`."""
    started = time.monotonic()
    while True:
        left = marked_processes(marker)
        elapsed = time.monotonic() - started
        if not left or elapsed > timeout:
            return elapsed, left
        time.sleep(0.05)


def assert_none_survive(find: Callable[[], list[psutil.Process]], timeout: float = 10.0) -> None:
    """Give what `find` returns `timeout` seconds to exit, then kill it and fail naming it,
    so one test's stragglers never leak into the next."""
    deadline = time.monotonic() + timeout
    while (left := find()) and time.monotonic() < deadline:
        time.sleep(0.05)
    described = []
    for process in left:
        try:
            described.append(f"{process.pid} {process.cmdline()}")
            process.kill()
        except psutil.Error:
            pass
    assert not described, f"processes outlived the test: {described}"


@pytest.fixture(scope="session", autouse=True)
def _schema_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`runner validate`'s schema cache (see runner.jobfile.checker) in a folder of this session,
    for the tests and every runner they start, instead of the user's ~/.cache."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture
def marker() -> Iterator[str]:
    """A marker for this test's processes; fails the test if any survives it."""
    value = uuid.uuid4().hex
    yield value
    assert_none_survive(lambda: marked_processes(value))


@pytest.fixture
def env(marker: str, tmp_path: Path) -> dict[str, str]:
    """The environment for a runner started by a test: the test's marker, its own state
    directory, and no run marker inherited from an outer run."""
    from runner.system.procs import RUN_MARKER_ENV

    environ = {k: v for k, v in os.environ.items() if k != RUN_MARKER_ENV}
    return {**environ, MARKER: marker, "RUNNER_STATE_DIR": str(tmp_path / "state")}


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    journal: list[dict[str, Any]]
    elapsed: float  # from just before the runner started until it exited, as the test saw it

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.journal if e["event"] == kind]

    def final(self) -> dict[str, dict[str, Any]]:
        """Task id -> its final task_finished record."""
        return {e["task"]: e for e in self.events("task_finished") if e["final"]}


def read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class JobRunner:
    """Writes a job file (and a tasks module) into a folder and runs `runner run` on it."""

    folder: Path
    marker: str

    def write(self, yaml_text: str, name: str = "job.yml") -> Path:
        path = self.folder / name
        path.write_text(yaml_text)
        return path

    def env(self) -> dict[str, str]:
        return {**os.environ, MARKER: self.marker, "PYTHONUNBUFFERED": "1",
                "RUNNER_STATE_DIR": str(self.folder / "state")}

    def start(self, job: Path, *args: str, journal: Path | None = None,
              **popen: Any) -> subprocess.Popen[str]:
        journal = journal or self.folder / "journal.jsonl"
        return subprocess.Popen(
            [RUNNER, "run", str(job), "--journal", str(journal), *args],
            cwd=self.folder, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, **popen)

    def run(self, job: Path, *args: str, timeout: float = 60.0,
            journal: Path | None = None) -> Finished:
        began = time.monotonic()
        process = self.start(job, *args, journal=journal)
        return self.finish(process, began, journal=journal, timeout=timeout)

    def finish(self, process: subprocess.Popen[str], began: float, *,
               journal: Path | None = None, timeout: float = 60.0) -> Finished:
        """Wait (bounded) for a runner from `start` and read what it journalled."""
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"runner did not finish in {timeout}s:\n{stdout}\n{stderr}")
        return Finished(process.returncode, stdout, stderr,
                        read_journal(journal or self.folder / "journal.jsonl"),
                        time.monotonic() - began)


CATALOGUE = REPO / "jobs" / "faults.py"


@pytest.fixture
def job_runner(tmp_path: Path, marker: str) -> JobRunner:
    """A folder where the catalogue of misbehaving tasks is importable as `faults`."""
    (tmp_path / "faults.py").write_text(CATALOGUE.read_text())
    return JobRunner(tmp_path, marker)
