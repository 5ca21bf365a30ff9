"""`runner run --resume`: crash consistency under SIGKILL, survivors of a dead run, changed
specs, and the issue's "Done when" (Ctrl-C half way through jobs/demo.yml, then resume).
Real processes; every wait bounded; `job_runner` carries the `marker` leak check."""

from __future__ import annotations

import json
import random
import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import REPO, JobRunner, read_journal
from tests.integration.test_journal import complete_lines, finish, wait_for_lines

pytestmark = pytest.mark.timeout(120)

BLOBS = '''
import time


def blob(i):
    """A 100 KB result; every fourth task is slow, so kills land mid-task too."""
    time.sleep(0.3 if i % 4 == 0 else 0.01)
    return f"{i}:" + "x" * 100_000
'''

BLOB_JOB = """
version: 1
executor: {executor}
workers: 2
shutdown: {{wait: false, grace: 1s}}
tasks:
  - name: "blob-{{{{ i }}}}"
    call: blobs:blob
    args: ["{{{{ i }}}}"]
    foreach: {{i: {{range: [0, {count}]}}}}
"""
BLOB_TASKS = 40
KILL_WITHIN = 1.4
"""Seconds after job_started; a whole run of the job takes about 1.5 s here."""
EXECUTORS = ["pool", "mp-pool", "process"]


def journal_lines(journal: Path) -> list[dict[str, Any]]:
    """Every line of the journal once a torn last line is cut off; each must parse."""
    data = journal.read_bytes() if journal.exists() else b""
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def ok_counts(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["task"] for e in events
                   if e["event"] == "task_finished" and e["final"] and e["status"] == "ok")


def kill_at_random(runner: JobRunner, job: Path, journal: Path, rng: random.Random,
                   *args: str) -> None:
    """Start a run, wait until it has written its job_started, SIGKILL it at a random
    moment of the job, and check the journal parses once its tail is cut."""
    runs_before = complete_lines(journal, '"job_started"')
    process = runner.start(job, *args, journal=journal)
    wait_for_lines(journal, '"job_started"', runs_before + 1)
    time.sleep(rng.uniform(0.0, KILL_WITHIN))
    process.kill()
    finish(process, timeout=30)
    journal_lines(journal)


@pytest.mark.parametrize("seed", range(20))
def test_sigkill_at_a_random_moment_then_resume_runs_every_task_ok_once(
        job_runner: JobRunner, seed: int) -> None:
    rng = random.Random(seed)
    (job_runner.folder / "blobs.py").write_text(BLOBS)
    job = job_runner.write(BLOB_JOB.format(executor=EXECUTORS[seed % 3], count=BLOB_TASKS))
    journal = job_runner.folder / "journal.jsonl"
    kill_at_random(job_runner, job, journal, rng)
    if rng.random() < 0.5:  # kill a resumed run too
        kill_at_random(job_runner, job, journal, rng, "--resume", str(journal))
    data = journal.read_bytes()
    torn = len(data) - (data.rfind(b"\n") + 1)
    done = job_runner.run(job, "--resume", str(journal))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    if torn:
        assert f"dropped a torn last line ({torn} bytes)" in done.stderr
    events = journal_lines(journal)
    assert journal.read_bytes().endswith(b"\n")
    counts = ok_counts(events)
    assert set(counts) == {f"blob-{{{{ i }}}}[i={i}]" for i in range(BLOB_TASKS)}
    assert set(counts.values()) == {1}, "a task recorded ok was run again"
    results = [e for e in events if e["event"] == "task_finished" and e["status"] == "ok"]
    assert all(len(e["result"]) > 100_000 for e in results)
    last = [e for e in events if e["event"] == "job_started"][-1]
    assert last["resumed"] is True and last["resumes"] == [
        e for e in events if e["event"] == "job_started"][-2]["run"]


SURVIVOR_JOB = """
version: 1
workers: 2
shutdown: {grace: 1s}
tasks:
  - name: stubborn
    command: "test -e flag || (trap '' TERM; sleep 60)"
  - {name: quick, call: faults:square, args: [7]}
"""


def test_resume_first_kills_what_a_dead_run_left_alive(job_runner: JobRunner) -> None:
    """Runner and guardian both SIGKILLed (as by the OOM killer): the command, which
    ignores SIGTERM, survives them. The resume kills it (found by PID and create time,
    and by the run's marker) before running the task again."""
    job = job_runner.write(SURVIVOR_JOB)
    journal = job_runner.folder / "journal.jsonl"
    process = job_runner.start(job, journal=journal)
    try:
        wait_for_lines(journal, '"name":"stubborn"')
        started = next(e for e in journal_lines(journal)
                       if e["event"] == "task_started" and e["name"] == "stubborn")
        assert started["pid_created"] is not None
        runner = psutil.Process(process.pid)
        for child in runner.children():
            if "runner.system.guardian" in " ".join(child.cmdline()):
                child.kill()
        survivor = psutil.Process(started["pid"])
        left = [survivor, *survivor.children(recursive=True)]
    finally:
        process.kill()
        finish(process, timeout=30)
    assert all(p.is_running() for p in left), "nothing survived: the test proves nothing"
    (job_runner.folder / "flag").touch()
    done = job_runner.run(job, "--resume", str(journal))
    assert done.returncode == 0, done.stderr
    assert "left by the earlier run" in done.stderr and str(survivor.pid) in done.stderr
    assert not psutil.wait_procs(left, timeout=5)[1]
    assert ok_counts(done.journal) == {"stubborn": 1, "quick": 1}


CHANGING_JOB = """
version: 1
workers: 2
tasks:
  - {{name: first, call: faults:square, args: [{n}]}}
  - {{name: second, call: faults:square, args: [2]}}
  - {{name: third, call: faults:flaky, args: [counter, 1]}}
"""


def test_a_changed_spec_is_refused_on_resume_unless_forced(job_runner: JobRunner) -> None:
    job = job_runner.write(CHANGING_JOB.format(n=1))
    journal = job_runner.folder / "journal.jsonl"
    assert job_runner.run(job).returncode == 1  # third fails once
    job_runner.write(CHANGING_JOB.format(n=5))
    refused = job_runner.run(job, "--resume", str(journal))
    assert refused.returncode == 2
    assert "1 task(s) recorded ok have a different spec now: first." in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert len(refused.events("job_started")) == 1, "a refused resume must not start"
    forced = job_runner.run(job, "--resume", str(journal), "--force")
    assert forced.returncode == 0, forced.stderr
    assert ok_counts(forced.journal) == {"first": 1, "second": 1, "third": 1}
    assert forced.events("job_started")[-1]["tasks"] == 1


def test_resume_refuses_contradictions_and_missing_journals(job_runner: JobRunner) -> None:
    job = job_runner.write(CHANGING_JOB.format(n=1))
    other = job_runner.folder / "other.jsonl"
    missing = job_runner.run(job, "--resume", str(other), journal=other)
    assert missing.returncode == 2 and "no such journal" in missing.stderr
    assert not other.exists(), "a refused resume must not create the journal"
    other.touch()
    differ = job_runner.run(job, "--resume", str(other))
    assert differ.returncode == 2 and "name different files" in differ.stderr
    empty = job_runner.run(job, "--resume", str(other), journal=other)
    assert empty.returncode == 2 and "records no run" in empty.stderr
    forced_alone = job_runner.run(job, "--force")
    assert forced_alone.returncode == 2 and "--force only makes sense" in forced_alone.stderr


def test_demo_interrupted_half_way_and_resumed_runs_every_task_ok_once(
        job_runner: JobRunner) -> None:
    """The issue's "Done when": Ctrl-C on jobs/demo.yml after at least four results,
    then --resume; every kitty ends ok exactly once in the journal."""
    for name in ("demo.yml", "tasks.py"):
        shutil.copy(REPO / "jobs" / name, job_runner.folder / name)
    job = job_runner.folder / "demo.yml"
    journal = job_runner.folder / "demo.jsonl"
    process = job_runner.start(job, journal=journal)
    try:
        wait_for_lines(journal, '"task_finished"', 4)
        process.send_signal(signal.SIGINT)
    finally:
        finish(process)
    assert process.returncode == 130
    first = ok_counts(read_journal(journal))
    assert 4 <= len(first) < 10, "interrupt half way: some tasks must be left"
    done = job_runner.run(job, "--resume", str(journal), journal=journal)
    assert done.returncode == 0, done.stderr
    assert f"{len(first)} task(s) recorded ok, {10 - len(first)} to run" in done.stderr
    assert ok_counts(done.journal) == {f"kitty{{{{ i }}}}[i={i}]": 1 for i in range(1, 11)}
    results = {e["name"]: e["result"] for e in done.events("task_finished")
               if e["status"] == "ok"}
    assert results == {f"kitty{i}": i * i for i in range(1, 11)}


def test_a_torn_last_line_is_cut_off_and_reported(job_runner: JobRunner) -> None:
    job = job_runner.write(CHANGING_JOB.format(n=1))
    journal = job_runner.folder / "journal.jsonl"
    assert job_runner.run(job).returncode == 1
    torn = b'{"event":"task_finished","ts":"2026-11-27T10:00:00.0000'
    with journal.open("ab") as tail:
        tail.write(torn)
    done = job_runner.run(job, "--resume", str(journal))
    assert done.returncode == 0, done.stderr
    assert f"dropped a torn last line ({len(torn)} bytes)" in done.stderr
    assert ok_counts(journal_lines(journal)) == {"first": 1, "second": 1, "third": 1}
    assert journal.read_bytes().endswith(b"\n")


def test_a_resume_of_a_finished_run_runs_nothing(job_runner: JobRunner) -> None:
    job = job_runner.write(CHANGING_JOB.format(n=1).replace("[counter, 1]", "[counter, 0]"))
    journal = job_runner.folder / "journal.jsonl"
    assert job_runner.run(job).returncode == 0
    done = job_runner.run(job, "--resume", str(journal))
    assert done.returncode == 0
    assert "0 task(s): nothing to do" in done.stdout
    assert ok_counts(done.journal) == {"first": 1, "second": 1, "third": 1}
