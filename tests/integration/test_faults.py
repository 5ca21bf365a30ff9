"""The catalogue of misbehaving tasks, each next to healthy ones, under every executor
and start method: the bad task gets the right status, every healthy task succeeds, and
nothing any of them started outlives the run (the `marker` fixture checks)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, START_METHODS, JobRunner

pytestmark = pytest.mark.timeout(150)

EXPECTED = {
    "raise": ("failed", "ValueError"),
    "sys-exit": ("failed", "SystemExit"),
    "os-exit": ("crashed", "ProcessExited"),
    "sigkill": ("crashed", "ProcessKilled"),
    "segfault": ("crashed", "ProcessKilled"),
    "hang": ("timeout", "Timeout"),
    "ignore-sigterm": ("timeout", "Timeout"),
    "grandchild-return": ("ok", None),
    "daemon": ("ok", None),
    "grandchild-hang": ("timeout", "Timeout"),
    "unpicklable-result": ("failed", "ResultNotJSON"),
    "unpicklable-exception": ("failed", "faults._NeedsTwo"),
    "huge-output": ("ok", None),
    "command-fails": ("failed", "CommandFailed"),
    "command-killed": ("crashed", "ProcessKilled"),
    "command-hangs": ("timeout", "Timeout"),
}


LOST = {"sigkill": ("ProcessLost",), "segfault": ("ProcessLost",), "os-exit": ("ProcessLost",)}
"""Under `pool`, a dead worker's exit status is now and then gone before the runner can
read it (reaped elsewhere; see runner/executors/slots.py): the attempt is still `crashed`,
only the signal's name is missing from the message."""


def _catalogue_job(runner: JobRunner, executor: str, start_method: str) -> str:
    text = (REPO / "jobs" / "faults.yml").read_text()
    text = text.replace("executor: pool", f"executor: {executor}\nstart_method: {start_method}")
    return str(runner.write(text.replace("timeout: 3s", "timeout: 2s")))


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("executor", ["process", "pool", "mp-pool"])
def test_every_fault_fails_alone(job_runner: JobRunner, executor: str, start_method: str) -> None:
    from pathlib import Path

    done = job_runner.run(Path(_catalogue_job(job_runner, executor, start_method)), timeout=120)
    assert done.returncode == 1, done.stderr
    final = {record["name"]: record for record in done.events("task_finished") if record["final"]}
    for name, (status, error_type) in EXPECTED.items():
        record = final[name]
        assert record["status"] == status, (name, record)
        if error_type:
            assert record["error"]["type"] in (error_type, *LOST.get(name, ())), \
                (name, record["error"])
    healthy = [r for n, r in final.items() if n.startswith("healthy")]
    assert len(healthy) == 8
    assert all(r["status"] == "ok" for r in healthy)
    assert sorted(r["result"] for r in healthy) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert final["sys-exit"]["exit_code"] == 3
    for name, signame in (("segfault", "SIGSEGV"), ("sigkill", "SIGKILL")):
        error = final[name]["error"]
        assert signame in error["message"] or error["type"] == "ProcessLost"
    assert "SIGSEGV" in final["command-killed"]["error"]["message"]
    assert "ValueError: boom" in final["raise"]["error"]["traceback"]
    assert len(final["huge-output"]["stdout"]) <= 8192
    counts = done.events("job_finished")[0]["counts"]
    assert "leftover process" in done.stderr
    assert counts == {"ok": 11, "failed": 5, "timeout": 4, "crashed": 4, "interrupted": 0,
                      "cancelled": 0, "skipped": 0}


@pytest.mark.parametrize("executor", ["pool", "mp-pool"])
def test_many_crashes_do_not_exhaust_the_slot_table(job_runner: JobRunner, executor: str) -> None:
    """Each crash leaves a dead worker's row behind as evidence; a run with more crashes
    than the table has rows (4 x workers + 8) must still time out its last task."""
    job = job_runner.write(f"""
version: 1
executor: {executor}
workers: 1
shutdown: {{grace: 1s}}
tasks:
  - name: "crash-{{{{ i }}}}"
    call: faults:hard_exit
    foreach: {{i: {{range: [0, 16]}}}}
  - name: hang
    call: faults:hang
    timeout: 1s
""")
    done = job_runner.run(job, timeout=120)
    final = done.final()
    assert final["hang"]["status"] == "timeout"
    assert sum(r["status"] == "crashed" for r in final.values()) == 16


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("executor", ["pool", "mp-pool"])
def test_max_tasks_per_worker_recycles_workers_without_hanging(
        job_runner: JobRunner, executor: str, start_method: str) -> None:
    """CPython gh-115634: ProcessPoolExecutor(max_tasks_per_child=2) hangs once a worker
    retires with work queued. Here every worker runs at most two tasks, and all end."""
    job = job_runner.write(f"""
version: 1
executor: {executor}
start_method: {start_method}
workers: 2
max_tasks_per_worker: 2
tasks:
  - name: "who-{{{{ i }}}}"
    call: faults:whoami
    args: [0.05]
    foreach: {{i: {{range: [0, 12]}}}}
""")
    done = job_runner.run(job, timeout=90)
    assert done.returncode == 0, done.stderr
    final = done.final()
    assert len(final) == 12 and {r["status"] for r in final.values()} == {"ok"}
    per_worker: dict[int, int] = {}
    for record in final.values():
        per_worker[record["result"]["pid"]] = per_worker.get(record["result"]["pid"], 0) + 1
    assert max(per_worker.values()) <= 2
    assert len(per_worker) >= 6


def test_the_api_ends_a_daemon_it_cannot_reap(job_runner: JobRunner) -> None:
    """`runner.run` from Python is no subreaper: a daemon a task left is reparented to init,
    out of the run's tree, and the run's marker alone finds it when the run ends."""
    import subprocess
    import sys

    job = job_runner.write("version: 1\nexecutor: pool\nworkers: 1\ntasks:\n"
                           "  - name: daemon\n    call: faults:daemon_and_return\n")
    script = ("import runner, sys\n"
              f"result = runner.run(runner.load({str(job)!r}), console=False)\n"
              "sys.exit(int(result.exit_code))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=job_runner.folder, text=True,
                          env=job_runner.env(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ended 1 leftover process(es) of this run" in done.stderr


def test_a_command_that_cannot_start_does_not_close_the_next_ones_pipes(
        job_runner: JobRunner) -> None:
    """Reporting a command that could not start admits the next one at once, whose pipes
    and pidfd take the descriptor numbers just freed; closing the failed command's pipe
    ends a second time after that closed the next command's descriptors, and the run
    never noticed it end."""
    job = job_runner.write("""
version: 1
workers: 1
tasks:
  - {name: missing, command: [no-such-program-here]}
  - name: "echo{{ i }}"
    command: "echo {{ i }}; sleep 0.3"
    foreach: {i: [1, 2, 3]}
""")
    done = job_runner.run(job, timeout=30)
    assert done.returncode == 1, done.stderr
    final = {record["name"]: record for record in done.final().values()}
    assert final["missing"]["status"] == "failed"
    assert {final[f"echo{i}"]["status"] for i in (1, 2, 3)} == {"ok"}
    assert [final[f"echo{i}"]["stdout"] for i in (1, 2, 3)] == ["1\n", "2\n", "3\n"]
