"""Env values never leave the runner in clear: not in `--dry-run` (text or JSON), the
journal, `runner report` or `runner ps`; a real `--resume` after a token changed names
the variable. Real processes; every wait bounded; nothing outlives a test."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.conftest import RUNNER, JobRunner

pytestmark = pytest.mark.timeout(120)

SECRET = "s3cr3t-8271"
JOB = """
version: 1
defaults: {env: {TOKEN: "${TOKEN}"}}
tasks:
  - name: "use-{{ i }}"
    command: 'test "$TOKEN" = "$EXPECTED" && sleep {{ i }}'
    env: {EXPECTED: "${TOKEN}"}
    foreach: {i: [0, 1]}
"""


def _cli(job_runner: JobRunner, *args: str,
         token: str = SECRET) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNNER, *args], cwd=job_runner.folder, capture_output=True,
                          text=True, timeout=60, env={**job_runner.env(), "TOKEN": token})


def test_env_values_appear_in_no_output(job_runner: JobRunner) -> None:
    job = job_runner.write(JOB)
    for extra in ([], ["--json"]):
        dry = _cli(job_runner, "run", str(job), "--dry-run", *extra)
        assert dry.returncode == 0 and "TOKEN" in dry.stdout and "***" in dry.stdout
        assert SECRET not in dry.stdout + dry.stderr
    journal = job_runner.folder / "journal.jsonl"
    running = subprocess.Popen([RUNNER, "run", str(job), "--journal", str(journal)],
                               cwd=job_runner.folder, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**job_runner.env(), "TOKEN": SECRET})
    try:
        deadline, listed = time.monotonic() + 20, ""
        while "use-" not in listed and time.monotonic() < deadline:
            listed = _cli(job_runner, "ps", "--json").stdout
            time.sleep(0.05)
        assert "use-" in listed and SECRET not in listed
        stdout, stderr = running.communicate(timeout=60)
    finally:
        running.kill()
        running.wait(timeout=10)
    assert running.returncode == 0, stderr
    assert SECRET not in stdout + stderr + journal.read_text()
    for extra in ([], ["--json"]):
        report = _cli(job_runner, "report", str(journal), *extra)
        assert report.returncode == 0 and SECRET not in report.stdout + report.stderr
    resumed = _cli(job_runner, "run", str(job), "--resume", str(journal))
    assert resumed.returncode == 0, resumed.stderr
    rotated = _cli(job_runner, "run", str(job), "--resume", str(journal), token="rotated-1")
    assert rotated.returncode == 2
    assert "For 2 of them only the values of env variables changed: EXPECTED, TOKEN" \
        in rotated.stderr
    assert SECRET not in rotated.stderr and "rotated-1" not in rotated.stderr
