"""Stops from outside and from within: SIGINT, a second SIGINT, SIGTERM to the runner's PID
alone, `on_failure: stop` and `abort`, retries. Every wait is bounded; the `marker`
fixture proves no process outlives the test."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.conftest import START_METHODS, Finished, JobRunner, read_journal

pytestmark = pytest.mark.timeout(120)

SLOW_JOB = """
version: 1
executor: {executor}
start_method: {start_method}
workers: 2
shutdown:
  wait: {wait}
  grace: 2s
tasks:
  - name: "slow-{{{{ i }}}}"
    call: faults:nap
    args: [{seconds}, "{{{{ i }}}}"]
    foreach: {{i: {{range: [0, 6]}}}}
  - name: "cmd-{{{{ i }}}}"
    command: "sleep {seconds}"
    foreach: {{i: [0, 1]}}
"""


def _wait_for_started(journal: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(e["event"] == "task_started" for e in read_journal(journal)) >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"fewer than {count} tasks started within {timeout}s")


def _stopped(runner: JobRunner, *, signals: list[int], wait: bool, executor: str = "pool",
             start_method: str = "fork", seconds: float = 30) -> Finished:
    job = runner.write(SLOW_JOB.format(executor=executor, start_method=start_method,
                                       wait=str(wait).lower(), seconds=seconds))
    journal = runner.folder / "journal.jsonl"
    began = time.monotonic()
    process = runner.start(job, journal=journal)
    _wait_for_started(journal, 2)
    for i, signum in enumerate(signals):
        if i:  # two signals at once could be taken for one
            time.sleep(0.3)
        process.send_signal(signum)
    return runner.finish(process, began, journal=journal)


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("executor", ["process", "pool", "mp-pool"])
def test_sigint_without_wait_interrupts_running_and_cancels_the_rest(
        job_runner: JobRunner, executor: str, start_method: str) -> None:
    done = _stopped(job_runner, signals=[signal.SIGINT], wait=False, executor=executor,
                    start_method=start_method)
    assert done.returncode == 130, done.stderr
    final = done.final()
    statuses = {record["status"] for record in final.values()}
    assert "interrupted" in statuses and statuses <= {"interrupted", "cancelled", "ok"}
    finished = done.events("job_finished")[0]
    assert finished["interrupted_by"] == "SIGINT"
    assert finished["counts"]["ok"] == 0
    assert sum(finished["counts"].values()) == 8
    assert "Traceback" not in done.stderr


def test_sigint_with_wait_lets_running_tasks_finish(job_runner: JobRunner) -> None:
    done = _stopped(job_runner, signals=[signal.SIGINT], wait=True, seconds=2)
    assert done.returncode == 130
    counts = done.events("job_finished")[0]["counts"]
    assert counts["ok"] >= 2 and counts["interrupted"] == 0
    assert counts["ok"] + counts["cancelled"] == 8


def test_second_sigint_kills_everything_at_once(job_runner: JobRunner) -> None:
    started = time.monotonic()
    done = _stopped(job_runner, signals=[signal.SIGINT, signal.SIGINT], wait=True)
    assert done.returncode == 130
    assert time.monotonic() - started < 25, "the second SIGINT must not wait for 30 s tasks"
    counts = done.events("job_finished")[0]["counts"]
    assert counts["interrupted"] >= 2 and counts["ok"] == 0


@pytest.mark.parametrize("start_method", START_METHODS)
def test_sigterm_to_the_runner_pid_alone_cleans_up(job_runner: JobRunner,
                                                   start_method: str) -> None:
    done = _stopped(job_runner, signals=[signal.SIGTERM], wait=False, start_method=start_method)
    assert done.returncode == 143
    assert done.events("job_finished")[0]["interrupted_by"] == "SIGTERM"


FAILING_JOB = """
version: 1
workers: 2
on_failure: {policy}
max_failures: {limit}
shutdown: {{grace: 1s}}
tasks:
  - name: "bad-{{{{ i }}}}"
    call: faults:raise_error
    foreach: {{i: [0, 1]}}
  - name: "slow-{{{{ i }}}}"
    call: faults:nap
    args: [{seconds}, "{{{{ i }}}}"]
    foreach: {{i: {{range: [0, 10]}}}}
"""


@pytest.mark.parametrize("limit", ["1", '"10%"'])
def test_on_failure_stop_lets_running_finish_and_cancels_the_rest(job_runner: JobRunner,
                                                                 limit: str) -> None:
    job = job_runner.write(FAILING_JOB.format(policy="stop", limit=limit, seconds=1))
    done = job_runner.run(job)
    assert done.returncode == 1
    counts = done.events("job_finished")[0]["counts"]
    assert counts["failed"] >= 1 and counts["interrupted"] == 0
    assert counts["cancelled"] >= 6
    assert sum(counts.values()) == 12


def test_on_failure_abort_interrupts_running_tasks(job_runner: JobRunner) -> None:
    job = job_runner.write("""
version: 1
workers: 3
on_failure: abort
shutdown: {grace: 1s}
tasks:
  - name: "slow-{{ i }}"
    call: faults:nap
    args: [30]
    foreach: {i: [0, 1]}
  - name: boom
    call: faults:nap_then_raise
    args: [1]
  - name: "later-{{ i }}"
    call: faults:nap
    args: [1]
    foreach: {i: {range: [0, 5]}}
""")
    started = time.monotonic()
    done = job_runner.run(job)
    assert done.returncode == 1
    assert time.monotonic() - started < 25, "abort must not wait for the 30 s tasks"
    final = done.final()
    assert final["boom"]["status"] == "failed"
    assert {final[f"slow-{{{{ i }}}}[i={i}]"]["status"] for i in (0, 1)} == {"interrupted"}
    counts = done.events("job_finished")[0]["counts"]
    # boom's worker may take the next task before the abort lands; that one is interrupted
    assert counts["interrupted"] + counts["cancelled"] == 7 and counts["cancelled"] >= 4


def test_retries_are_journaled_with_doubling_delays(job_runner: JobRunner) -> None:
    job = job_runner.write(f"""
version: 1
workers: 1
tasks:
  - name: flaky
    call: faults:flaky
    args: ["{job_runner.folder / 'count'}", 2]
    retries: 3
    retry_delay: 200ms
""")
    done = job_runner.run(job)
    assert done.returncode == 0, done.stderr
    attempts = done.events("task_finished")
    assert [(a["attempt"], a["status"], a["final"]) for a in attempts] == [
        (1, "failed", False), (2, "failed", False), (3, "ok", True)]
    assert [a.get("retry_in") for a in attempts] == [0.2, 0.4, None]
    starts = [e for e in done.events("task_started")]
    assert [s["attempt"] for s in starts] == [1, 2, 3]
    assert attempts[2]["result"] == 3
