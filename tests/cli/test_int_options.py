"""Whole-number options take ASCII digits only: Python's `int()` reads Arabic-Indic and
fullwidth digits ("١" is 1), and a command line means what it shows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import RUNNER

JOB = "version: 1\ntasks:\n  - {name: one, command: \"true\"}\n"


@pytest.mark.parametrize("value", ["١", "２", "1e3", "x", "9" * 40])
def test_workers_refuses_what_is_not_an_ascii_number(tmp_path: Path, value: str) -> None:
    job = tmp_path / "one.yml"
    job.write_text(JOB)
    done = subprocess.run([RUNNER, "run", str(job), "--workers", value, "--dry-run"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "ASCII digits" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_workers_in_ascii_digits_is_taken(tmp_path: Path) -> None:
    job = tmp_path / "one.yml"
    job.write_text(JOB)
    done = subprocess.run([RUNNER, "run", str(job), "--workers", "3", "--dry-run"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
