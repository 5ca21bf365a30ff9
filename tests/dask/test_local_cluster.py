"""`executor: dask` on the LocalCluster the runner starts itself, through `runner run`.

Each test reads the journal the run wrote; timing is judged from bounds generous
enough for a loaded machine, never from exact durations.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Finished, JobRunner

pytest.importorskip("distributed")
pytestmark = pytest.mark.timeout(120)

MIXED = """\
version: 1
executor: {executor}
workers: 2
mode: {mode}
tasks:
  - name: "sq{{{{ i }}}}"
    call: dask_tasks:square
    args: ["{{{{ i }}}}"]
    foreach:
      i: {{range: [1, 7]}}
  - name: shout
    call: dask_tasks:shout
    args: [hello]
  - name: boom
    call: dask_tasks:boom
  - name: echo
    command: "echo out; echo err >&2"
  - name: exit3
    command: ["sh", "-c", "exit 3"]
"""


def _comparable(done: Finished) -> dict[str, tuple[Any, ...]]:
    return {task: (r["status"], r.get("result"), r.get("exit_code"), r.get("stdout"),
                   r.get("stderr"), (r.get("error") or {}).get("type"))
            for task, r in done.final().items()}


def _spans(done: Finished) -> list[tuple[float, float]]:
    return sorted((datetime.fromisoformat(r["started"]).timestamp(),
                   datetime.fromisoformat(r["finished"]).timestamp())
                  for r in done.events("task_finished"))


def test_results_match_the_pool_executor_in_both_modes(job_folder: JobRunner) -> None:
    runs = {}
    for executor, mode in (("pool", "async"), ("dask", "async"), ("dask", "sync")):
        job = job_folder.write(MIXED.format(executor=executor, mode=mode), f"{executor}.yml")
        runs[executor, mode] = job_folder.run(
            job, journal=job_folder.folder / f"{executor}-{mode}.jsonl")
    reference = _comparable(runs["pool", "async"])
    assert reference["shout"][:4] == ("ok", "hello", None, "HELLO\n")
    assert reference["exit3"][0] == "failed" and reference["exit3"][2] == 3
    for (executor, mode), done in runs.items():
        assert done.returncode == 1, done.stderr
        assert _comparable(done) == reference, (executor, mode)
    for mode in ("async", "sync"):
        done = runs["dask", mode]
        runner = done.events("job_started")[0]
        assert runner["executor"] == "dask"
        records = done.final()
        calls = [r for t, r in records.items() if t not in ("echo", "exit3")]
        workers = {r["pid"] for r in calls}
        assert runner["pid"] not in workers and 1 <= len(workers) <= 2
        assert {r["ppid"] for r in calls} == {runner["pid"]}, "local workers are its children"
        assert {records["echo"]["ppid"], records["exit3"]["ppid"]} <= workers
        assert all(r["host"] for r in records.values())
    spans = _spans(runs["dask", "sync"])
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans)), "sync"


TIMEOUTS = """\
version: 1
executor: dask
workers: 2
shutdown: {grace: 1s}
tasks:
  - name: sleepy-call
    call: dask_tasks:nap
    args: [30]
    timeout: 1s
  - name: sleepy-command
    command: "sleep 30"
    timeout: 1s
  - name: "sq{{ i }}"
    call: dask_tasks:square
    args: ["{{ i }}"]
    foreach:
      i: {range: [1, 4]}
"""


def test_timeouts_end_the_run_early_and_are_journaled(job_folder: JobRunner) -> None:
    done = job_folder.run(job_folder.write(TIMEOUTS), timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.elapsed < 25, f"a 30 s task was not stopped: {done.elapsed:.1f}s"
    records = done.final()
    call, command = records["sleepy-call"], records["sleepy-command"]
    assert call["status"] == "timeout" and call["error"]["message"]
    assert command["status"] == "timeout" and command["exit_code"] == -signal.SIGTERM
    assert sorted(r["result"] for t, r in records.items() if t.startswith("sq")) == [1, 4, 9]
    assert done.events("job_finished")[0]["counts"]["timeout"] == 2


KILLED = """\
version: 1
executor: dask
workers: 2
backlog: 8
tasks:
  - name: die
    call: dask_tasks:die
  - name: "nap{{ i }}"
    call: dask_tasks:nap
    args: [0.2, "{{ i }}"]
    foreach:
      i: {range: [0, 8]}
"""


def test_a_killed_worker_fails_only_its_task(job_folder: JobRunner) -> None:
    done = job_folder.run(job_folder.write(KILLED))
    assert done.returncode == 1, done.stderr
    records = done.final()
    assert records["die"]["status"] == "crashed"
    assert records["die"].get("exit_code") is None
    others = {t: r for t, r in records.items() if t != "die"}
    assert len(others) == 8 and {r["status"] for r in others.values()} == {"ok"}
    assert sorted(r["result"] for r in others.values()) == list(range(8))
    assert [r["attempt"] for r in done.events("task_finished") if r["task"] == "die"] == [1]


INTERRUPTED = """\
version: 1
executor: dask
workers: 2
shutdown: {wait: true, cancel_pending: true}
tasks:
  - name: "nap{{ i }}"
    call: dask_tasks:nap
    args: [3, "{{ i }}"]
    foreach:
      i: {range: [0, 6]}
"""


def test_ctrl_c_reaches_the_runner_not_the_workers(job_folder: JobRunner) -> None:
    """SIGINT to the whole process group, as a terminal sends it: running tasks finish
    (shutdown.wait), queued ones are cancelled, and the local workers were not hit."""
    began = time.monotonic()
    process = job_folder.start(job_folder.write(INTERRUPTED), start_new_session=True)
    journal = job_folder.folder / "journal.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _started(journal) < 2:
        assert process.poll() is None, "the runner ended before two tasks started"
        time.sleep(0.05)
    assert _started(journal) >= 2, "fewer than two tasks started in 30 s"
    os.killpg(process.pid, signal.SIGINT)
    done = job_folder.finish(process, began)
    assert done.returncode == 130, done.stderr
    statuses = sorted(r["status"] for r in done.final().values())
    assert "ok" in statuses and set(statuses) <= {"ok", "cancelled"}, statuses
    assert done.events("job_finished")[0]["counts"]["cancelled"] >= 2


def _started(journal: Path) -> int:
    return journal.read_text().count('"task_started"') if journal.exists() else 0


def test_without_distributed_the_message_names_the_extra(job_folder: JobRunner) -> None:
    """The same `runner run`, in an interpreter where `import distributed` fails."""
    job = job_folder.write(TIMEOUTS)
    hide = ("import sys; sys.modules['distributed'] = None; from runner.cli.app import main; "
            f"sys.argv = ['runner', 'run', {str(job)!r}, '--no-journal']; main()")
    done = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True,
                          timeout=60, cwd=job_folder.folder, env=job_folder.env())
    assert done.returncode == 3
    assert "executor: dask needs the dask extra: pip install 'yaml-job-runner[dask]'" in done.stderr
