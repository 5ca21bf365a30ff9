"""Claims on `limits`, with real processes: a counter of 1 keeps tasks from overlapping
(each task stamps its own start and end from inside its process), a task that does
not fit lets smaller ones by without being starved, claims come back however an
attempt ends, retries escalate their claims, and the journal says what each attempt
claimed. The `marker` fixture proves no process outlives a run."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.conftest import START_METHODS, JobRunner, read_journal
from tests.integration.test_shared_cap import TASKS, _most_at_once

pytestmark = pytest.mark.timeout(180)

COUNTER_JOB = """
version: 1
start_method: {start_method}
workers: 4
limits: {{db: 1}}
tasks:
  - name: "call-{{{{ i }}}}"
    call: captasks:stamp
    args: ["call-{{{{ i }}}}", 0.3]
    foreach: {{i: {{range: [0, 4]}}}}
    resources: {{db: 1}}
  - name: "cmd-{{{{ i }}}}"
    command: 's=$(date +%s.%N); sleep 0.3; echo "$s $(date +%s.%N)" > "stamps/cmd-{{{{ i }}}}"'
    foreach: {{i: {{range: [0, 3]}}}}
    resources: {{db: 1}}
"""


def _stamps(runner: JobRunner) -> None:
    (runner.folder / "captasks.py").write_text(TASKS)
    (runner.folder / "stamps").mkdir()


def _interval(runner: JobRunner, name: str) -> tuple[float, float]:
    began, ended = (runner.folder / "stamps" / name).read_text().split()
    return float(began), float(ended)


@pytest.mark.parametrize("start_method", START_METHODS)
def test_a_counter_of_one_keeps_tasks_from_overlapping(job_runner: JobRunner,
                                                       start_method: str) -> None:
    _stamps(job_runner)
    job = job_runner.write(COUNTER_JOB.format(start_method=start_method))
    done = job_runner.run(job, "--quiet", timeout=120)
    assert done.returncode == 0, done.stderr
    assert _most_at_once(job_runner.folder) == (1, 7)
    claims = {(e["event"], e["task"]): e.get("claims") for e in done.journal
              if e["event"].startswith("task_")}
    assert len(claims) == 14 and set(map(str, claims.values())) == {"{'db': 1}"}


PAST_AND_RESERVED_JOB = """
version: 1
start_method: fork
workers: 8
limits: {cpus: 6, db: 2}
tasks:
  - name: "first-{{ i }}"
    call: captasks:stamp
    args: ["first-{{ i }}", 1.0]
    foreach: {i: {range: [0, 3]}}
    resources: {cpus: 1}
  - name: big
    call: captasks:stamp
    args: [big, 0.3]
    resources: {cpus: 4}
  - name: "other-{{ i }}"
    call: captasks:stamp
    args: ["other-{{ i }}", 0.3]
    foreach: {i: {range: [0, 2]}}
    resources: {db: 1}
  - name: "later-{{ i }}"
    call: captasks:stamp
    args: ["later-{{ i }}", 0.2]
    foreach: {i: {range: [0, 6]}}
    resources: {cpus: 1}
"""


def test_a_big_claim_lets_others_by_and_is_not_starved(job_runner: JobRunner) -> None:
    """`big` cannot start while the three `first` tasks hold 3 of 6 CPUs. The `other`
    tasks behind it claim no CPU and start at once; the `later` tasks claim CPUs, which
    `big` reserves, so none of them starts before `big` does."""
    _stamps(job_runner)
    done = job_runner.run(job_runner.write(PAST_AND_RESERVED_JOB), "--quiet", timeout=120)
    assert done.returncode == 0, done.stderr
    big_began, _ = _interval(job_runner, "big")
    first_ended = min(_interval(job_runner, f"first-{i}")[1] for i in range(3))
    assert big_began >= first_ended - 0.05  # it waited for CPUs (clocks of two processes)
    assert all(_interval(job_runner, f"other-{i}")[0] < big_began for i in range(2))
    # admitted after big, they may still reach their first line a moment before it does
    assert all(_interval(job_runner, f"later-{i}")[0] >= big_began - 0.1 for i in range(6))


RETURNED_JOB = """
version: 1
start_method: {start_method}
workers: 1
limits: {{db: 1}}
shutdown: {{grace: 1s}}
defaults:
  resources: {{db: 1}}
tasks:
  - name: sleeps-too-long
    call: faults:nap
    args: [60]
    timeout: 0.5s
  - name: dies
    call: faults:kill_self
  - name: command-too-long
    command: "sleep 60"
    timeout: 0.5s
  - name: retried
    call: faults:raise_error
    retries: 1
    retry_delay: 0.5s
  - name: last
    call: faults:square
    args: [3]
"""


@pytest.mark.parametrize("start_method", START_METHODS)
def test_claims_come_back_after_timeouts_crashes_and_failures(job_runner: JobRunner,
                                                               start_method: str) -> None:
    """Every task claims the only `db`: each can start only after the one before gave
    it back, so the run finishes only if timeouts, a crash and a failure all do. (One
    worker: a leaked claim blocks whatever the places, and a pool of several spawned
    workers can hang at shutdown after a kill, with or without claims.)"""
    job = job_runner.write(RETURNED_JOB.format(start_method=start_method))
    done = job_runner.run(job, "--quiet", timeout=120)
    assert done.returncode == 1, done.stderr
    statuses = {task: record["status"] for task, record in done.final().items()}
    assert statuses == {"sleeps-too-long": "timeout", "dies": "crashed",
                        "command-too-long": "timeout", "retried": "failed", "last": "ok"}
    attempts = [e["attempt"] for e in done.events("task_started") if e["task"] == "retried"]
    assert attempts == [1, 2]


ESCALATE_JOB = """
version: 1
start_method: fork
workers: 2
limits: {memory: 300MiB}
tasks:
  - name: hungry
    call: faults:raise_error
    args: ["MemoryError"]
    resources: {memory: 100MiB, cpus: 1}
    escalate: {memory: 2}
    retries: 3
    retry_delay: 0.1s
"""


def test_escalate_raises_the_claim_of_each_retry_up_to_the_limit(
        job_runner: JobRunner) -> None:
    done = job_runner.run(job_runner.write(ESCALATE_JOB), "--quiet", timeout=60)
    assert done.returncode == 1, done.stderr
    mib = 2**20
    for kind in ("task_started", "task_finished"):
        claims = [(e["attempt"], e["claims"]) for e in done.events(kind)]
        assert claims == [(1, {"cpus": 1, "memory": 100 * mib}),
                          (2, {"cpus": 1, "memory": 200 * mib}),
                          (3, {"cpus": 1, "memory": 300 * mib}),
                          (4, {"cpus": 1, "memory": 300 * mib})]


SPANS_JOB = """
version: 1
start_method: fork
workers: 2
limits: {cpus: 2}
tasks:
  - name: "sq-{{ i }}"
    call: faults:square
    args: ["{{ i }}"]
    foreach: {i: {range: [0, 3000]}}
    resources: {cpus: 1}
"""


def test_trivial_claiming_tasks_still_go_in_spans(job_runner: JobRunner) -> None:
    """Thousands of quick tasks that each claim a CPU: every one ends ok, and the lines a
    span's worker journals carry the claim as the runner's would."""
    done = job_runner.run(job_runner.write(SPANS_JOB), "--quiet", timeout=120)
    assert done.returncode == 0, done.stderr
    finished = done.events("task_finished")
    assert len(finished) == 3000
    assert all(e["status"] == "ok" and e["claims"] == {"cpus": 1} for e in finished)


def test_a_claim_above_the_machine_is_refused_when_the_run_starts(
        job_runner: JobRunner, tmp_path: Path) -> None:
    job = job_runner.write("""
version: 1
tasks:
  - name: greedy
    command: "true"
    resources: {cpus: 100000}
""")
    done = job_runner.run(job, timeout=60)
    assert done.returncode == 2
    assert 'task "greedy" claims 100000 cpus, but this machine has' in done.stderr
    assert "Traceback" not in done.stderr
    assert not done.journal


PARKED_JOB = """
version: 1
start_method: fork
workers: 4
limits: {db: 1}
shutdown: {cancel_pending: false}
tasks:
  - name: "first-{{ i }}"
    call: captasks:stamp
    args: ["first-{{ i }}", 1.5]
    foreach: {i: {range: [0, 3]}}
    resources: {db: 1}
  - name: free
    call: captasks:stamp
    args: [free, 3]
"""


def test_a_stop_cancels_tasks_waiting_for_their_claims(job_runner: JobRunner) -> None:
    """`first-1` and `first-2` wait aside for the one `db` while `free` runs; SIGTERM
    ends the run: the running tasks go on (`wait: true`) or are stopped, and the two
    waiting ones end cancelled instead of keeping the run alive."""
    _stamps(job_runner)
    journal = job_runner.folder / "journal.jsonl"
    began = time.monotonic()
    process = job_runner.start(job_runner.write(PARKED_JOB), "--quiet")
    deadline = time.monotonic() + 30
    while len([e for e in read_journal(journal) if e["event"] == "task_started"]) < 2 \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    done = job_runner.finish(process, began, timeout=90)
    assert done.returncode == 143, done.stderr
    statuses = {task: record["status"] for task, record in done.final().items()}
    assert statuses["first-{{ i }}[i=1]"] == statuses["first-{{ i }}[i=2]"] == "cancelled"
    assert statuses["first-{{ i }}[i=0]"] == "ok"
