"""`--order finish` prints each task as it ends: a fast failure is on stdout while a slow
task before it still runs; the default (plan order) holds it back until the slow task
ends. No timing: the slow task waits for a file the test creates only after reading
(or not reading) the failure's line from the runner's stdout as it comes. Every wait
bounded; the `marker` fixture (through `job_runner`) proves nothing outlives a test."""

from __future__ import annotations

import os
import selectors
import subprocess
import time

import pytest

from tests.conftest import JobRunner

pytestmark = pytest.mark.timeout(90)

JOB = """
version: 1
workers: 2
tasks:
  - name: slow
    command: 'while [ ! -e go ]; do sleep 0.02; done; echo slow-done'
  - name: fast
    command: 'echo fast-failing; exit 3'
"""


def _read_until(process: subprocess.Popen[str], wanted: str, seconds: float) -> str:
    """What the runner printed until a line holding `wanted`, or until `seconds` passed."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    seen = b""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while wanted.encode() not in seen and time.monotonic() < deadline:
            if selector.select(timeout=max(deadline - time.monotonic(), 0)):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                seen += chunk
    return seen.decode()


def _start(job_runner: JobRunner, *args: str) -> subprocess.Popen[str]:
    return job_runner.start(job_runner.write(JOB), *args)


def _finish(process: subprocess.Popen[str], job_runner: JobRunner) -> str:
    (job_runner.folder / "go").write_text("")
    try:
        rest, _ = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait(timeout=10)
    assert process.returncode == 1
    return rest


def test_order_finish_prints_a_failure_before_the_slow_task_before_it_ends(
        job_runner: JobRunner) -> None:
    process = _start(job_runner, "--order", "finish")
    early = _read_until(process, "✗ failed", 45)
    assert "✗ failed      fast" in early and "exit 3" in early
    assert "slow" not in early  # neither its line nor its output yet
    assert not (job_runner.folder / "go").exists()
    rest = _finish(process, job_runner)
    assert "✓ ok          slow" in rest


def test_plan_order_holds_the_failure_back_until_the_slow_task_ends(
        job_runner: JobRunner) -> None:
    """The default: the journal records the failure first, the console waits for `slow`."""
    process = _start(job_runner)
    journal = job_runner.folder / "journal.jsonl"
    deadline = time.monotonic() + 45
    while '"status":"failed"' not in (journal.read_text() if journal.exists() else ""):
        assert time.monotonic() < deadline, "fast never failed"
        time.sleep(0.02)
    early = _read_until(process, "✗", 0.5)
    assert "✗" not in early
    rest = early + _finish(process, job_runner)
    assert rest.index("✓ ok          slow") < rest.index("✗ failed      fast")
