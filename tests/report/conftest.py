"""Fixtures for the report's tests: hand-written journals, and bounded real processes.

Tests that start processes do so through `Processes`, which bounds every wait
and fails the test if anything it started (or anything descending from it,
even reparented) is still alive after.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import MARKER, assert_none_survive, marked_processes
from tests.report.report_journals import JournalWriter

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def journal(tmp_path: Path) -> JournalWriter:
    return JournalWriter(tmp_path / "journal.jsonl")


class Processes:
    """Starts commands in their own session, each wait bounded, all of them marked."""

    def __init__(self, marker: str, state: Path) -> None:
        self.marker = marker
        self.state = state
        self.before = {p.pid for p in psutil.Process().children(recursive=True)}

    def run(self, argv: list[str], *, timeout: float, cwd: Path | None = None,
            stdout: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, MARKER: self.marker, "RUNNER_STATE_DIR": str(self.state)}
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)  # its pipes may stay open in an escaped grandchild
            pytest.fail(f"{argv[0]} did not finish in {timeout}s")
        return subprocess.CompletedProcess(argv, process.returncode, out or "", err)

    def survivors(self) -> list[psutil.Process]:
        """Our descendants, and anything carrying our marker (children reparented to init)."""
        found = {p.pid: p for p in psutil.Process().children(recursive=True)
                 if p.pid not in self.before and _alive(p)}
        found.update((p.pid, p) for p in marked_processes(self.marker))
        return list(found.values())


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture
def processes(marker: str, tmp_path: Path) -> Iterator[Processes]:
    """Fails the test if a process it started is still alive 10 s after it ended. Runs
    are registered in the test's own state folder, not the user's."""
    started = Processes(marker, tmp_path / "state")
    yield started
    assert_none_survive(started.survivors)
