"""A bug in the runner is one line naming it and the file holding its traceback, exit 3.

The bug is planted in a subprocess that replaces `Engine.run` with a function that
raises, after the job was loaded and the executors started, and then calls the console
entry point: a seam test of `main`'s catch-all, with real processes around it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import JobRunner

pytestmark = pytest.mark.timeout(60)

PLANTED = """
import sys
from runner.cli import app as cli
from runner.engine import engine

def broken(self):
    raise RuntimeError("planted\\nsecond line")

engine.Engine.run = broken
sys.argv = ["runner", *sys.argv[1:]]
cli.main()
"""
JOB = """
version: 1
workers: 2
tasks:
  - {name: a, command: "true"}
"""


def _crash(runner: JobRunner, *args: str) -> subprocess.CompletedProcess[str]:
    job = runner.write(JOB)
    env = {**runner.env(), "TMPDIR": str(runner.folder)}
    return subprocess.run([sys.executable, "-c", PLANTED, *args, str(job), "--no-journal"],
                          cwd=runner.folder, env=env, capture_output=True, text=True,
                          timeout=45)


def test_an_internal_error_is_one_line_and_its_traceback_goes_to_a_private_file(
        job_runner: JobRunner) -> None:
    done = _crash(job_runner, "run")
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    prefix = "runner: internal error (a bug): RuntimeError: planted; traceback in "
    assert lines[0].startswith(prefix) and lines[0].endswith("; please report it"), lines
    path = Path(lines[0][len(prefix):-len("; please report it")])
    assert path.parent == job_runner.folder and path.name.startswith("runner-crash-")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert "Traceback (most recent call last)" in text
    assert ", in broken\n" in text and text.endswith("RuntimeError: planted\nsecond line\n")


@pytest.mark.parametrize("where", ["root", "run"])
def test_debug_prints_the_traceback_instead(job_runner: JobRunner, where: str) -> None:
    args = ("--debug", "run") if where == "root" else ("run", "--debug")
    done = _crash(job_runner, *args)
    assert done.returncode == 3, done.stderr
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().endswith("RuntimeError: planted; please report it")
    assert not list(job_runner.folder.glob("runner-crash-*"))

