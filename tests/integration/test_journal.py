"""The journal as a durable record: one writer at a time, no success with records missing,
and the create times `--resume` needs. Real processes; every wait bounded; the `marker`
fixture (through `job_runner`) proves nothing outlives a test."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RUNNER, JobRunner, read_journal

pytestmark = pytest.mark.timeout(120)

SLOW_JOB = """
version: 1
workers: 2
shutdown: {wait: false, grace: 1s}
tasks:
  - name: "slow-{{ i }}"
    call: faults:nap
    args: [30, "{{ i }}"]
    foreach: {i: [1, 2]}
"""

FILLING_JOB = """
version: 1
executor: {executor}
workers: 2
shutdown: {{grace: 1s}}
tasks:
  - name: "stubborn-{{{{ i }}}}"
    command: "touch up-{{{{ i }}}}; trap '' TERM; sleep 60"
    foreach: {{i: [1, 2]}}
  - name: "fill-{{{{ i }}}}"
    call: filling:fill
    args: ["{{{{ i }}}}"]
    foreach: {{i: {{range: [0, 5000]}}}}
"""
FILLING = """
import os
import time


def fill(i):
    \"\"\"Wait (bounded) until both commands are up, so the journal fills while they run.\"\"\"
    deadline = time.monotonic() + 20
    while not (os.path.exists("up-1") and os.path.exists("up-2")):
        if time.monotonic() > deadline:
            raise TimeoutError("the commands never started")
        time.sleep(0.01)
    return i
"""


def complete_lines(journal: Path, needle: str) -> int:
    """Whole lines holding `needle`, read while a runner may be writing the file."""
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return 0
    whole = data[: data.rfind(b"\n") + 1]
    return sum(needle.encode() in line for line in whole.splitlines())


def wait_for_lines(journal: Path, needle: str, count: int = 1, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while complete_lines(journal, needle) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {count} journal lines with {needle!r} in {timeout}s")
        time.sleep(0.05)


def finish(process: subprocess.Popen[str], timeout: float = 60.0) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"runner did not end in {timeout}s:\n{out}\n{err}")


def test_a_second_run_on_a_journal_in_use_is_refused_naming_the_first(
        job_runner: JobRunner) -> None:
    job = job_runner.write(SLOW_JOB)
    journal = job_runner.folder / "journal.jsonl"
    first = job_runner.start(job, journal=journal)
    try:
        wait_for_lines(journal, '"task_started"', 2)
        for extra in ([], ["--resume", str(journal)]):
            second = job_runner.run(job, *extra, journal=journal, timeout=30)
            assert second.returncode == 3, second.stderr
            assert f"is in use by another run (pid {first.pid})" in second.stderr
            assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        finish(first)
    assert first.returncode == 143
    assert [e["event"] for e in read_journal(journal)].count("job_started") == 1


def test_the_lock_is_free_once_the_run_ends(job_runner: JobRunner) -> None:
    job = job_runner.write(SLOW_JOB.replace("[30,", "[0.1,"))
    for _ in range(2):
        done = job_runner.run(job)
        assert done.returncode == 0, done.stderr
    assert len(done.events("job_started")) == 2


def _limit_file_size(limit: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("executor", ["pool", "mp-pool", "process"])
def test_a_full_journal_stops_the_run_with_exit_3_and_kills_its_tasks(
        job_runner: JobRunner, executor: str) -> None:
    """The file-size limit stands in for a full disk: write() fails with EFBIG (SIGXFSZ is
    ignored), the run stops at once, its tasks (commands that ignore SIGTERM included)
    are killed, and nothing claims success."""
    job = job_runner.write(FILLING_JOB.format(executor=executor))
    (job_runner.folder / "filling.py").write_text(FILLING)
    journal = job_runner.folder / "journal.jsonl"
    limit = 200_000
    process = subprocess.Popen(
        [RUNNER, "run", str(job), "--journal", str(journal)], cwd=job_runner.folder,
        env=job_runner.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: _limit_file_size(limit))
    started = time.monotonic()
    out, err = finish(process)
    assert process.returncode == 3, err
    assert time.monotonic() - started < 30, "the stop must not wait for the 60 s commands"
    assert f"cannot write the journal {journal}: File too large" in err
    assert "the run is stopped" in err and "Traceback" not in err
    data = journal.read_bytes()
    assert len(data) <= limit
    lines = [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
    assert lines[0]["event"] == "job_started"
    assert all((job_runner.folder / f"up-{i}").exists() for i in (1, 2)), \
        "the commands to kill never started"
    assert not any(e["event"] == "job_finished" for e in lines)
    assert "exit code 0" not in out


def test_pid_created_is_recorded_for_the_runner_and_tasks_seen_running(
        job_runner: JobRunner) -> None:
    job = job_runner.write("""
version: 1
workers: 2
tasks:
  - {name: quick, call: faults:square, args: [3]}
  - {name: slow, call: faults:nap, args: [0.5]}
  - {name: cmd, command: "sleep 0.5"}
""")
    done = job_runner.run(job)
    assert done.returncode == 0, done.stderr
    started = done.events("job_started")[0]
    assert isinstance(started["pid_created"], float) and "resumed" not in started
    seen = {e["task"]: e for e in done.events("task_started")}
    for task in ("slow", "cmd"):
        created = seen[task]["pid_created"]
        assert isinstance(created, float)
        assert started["pid_created"] <= created, "the runner is created before its tasks"
