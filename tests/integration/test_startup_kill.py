"""A runner SIGKILLed at any moment of its start-up leaves nothing behind: before its
guardian exists, while the guardian's interpreter is still starting, and once the
first tasks run. And the end-of-run sweep spares the guardian by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runner.system import procs
from tests.conftest import RUNNER, wait_until_gone

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("marker")]

DELAYS = (0.0, 0.02, 0.05, 0.08, 0.12, 0.16, 0.2, 0.3, 0.45, 0.7)
"""From before the imports are done to after the tasks have started, on any machine."""


def _job(folder: Path, start_method: str) -> Path:
    (folder / "spawner.py").write_text(textwrap.dedent("""
        import subprocess, time

        def spawn():
            subprocess.Popen(["sleep", "60"])
            time.sleep(60)
    """))
    job = folder / "startup.yml"
    job.write_text(textwrap.dedent(f"""
        version: 1
        workers: 4
        start_method: {start_method}
        shutdown: {{grace: 1s}}
        tasks:
          - {{name: cmd, command: "sleep 60 & sleep 60"}}
          - {{name: call, call: spawner:spawn}}
          - {{name: more, command: ["sleep", "60"], foreach: {{i: {{range: [0, 2]}}}}}}
    """))
    return job


@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
def test_a_runner_killed_during_start_up_leaves_nothing(
        start_method: str, tmp_path: Path, env: dict[str, str], marker: str) -> None:
    job = _job(tmp_path, start_method)
    for delay in DELAYS:
        runner = subprocess.Popen(
            [RUNNER, "run", str(job), "--executor", "pool", "--no-journal"],
            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        time.sleep(delay)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(5)
        _, left = wait_until_gone(marker, 15.0)
        assert not left, f"killed after {delay}s, these survived: {left}"


def test_the_sweep_spares_the_guardian_by_pid(tmp_path: Path, env: dict[str, str]) -> None:
    """A process of the run that the sweep would end (it carries the run's marker), named
    as the guardian's PID: spared; named as nobody: ended."""
    run_id = "abcdefabcdef"
    sleepers = [subprocess.Popen(["sleep", "60"], env={**env, procs.RUN_MARKER_ENV: run_id})
                for _ in range(2)]
    try:
        ended = procs.end_leftovers(run_id, 1.0, spare=sleepers[0].pid)
        assert ended == [sleepers[1].pid]
        assert sleepers[0].poll() is None
        sleepers[1].wait(5)  # ended (and reaped by the sweep: no status left to read)
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait(5)


if not sys.platform.startswith("linux"):  # /proc and the subreaper are Linux's
    pytestmark.append(pytest.mark.skip(reason="Linux only"))
