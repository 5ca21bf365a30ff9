"""`executor: dask` sends short calls several to a dask task: each keeps its own record,
timeout and blame, and a SIGKILLed runner still leaves nothing behind.

Whether a call ran inside a batch is read from dask itself: the key of the dask
task that ran it (`get_worker().get_current_task()`), shared by every call of a
batch. The misbehaving call is the first of the run that finds itself sharing
its dask task with the call before it, so it is always inside a batch, never
first in one.
"""

from __future__ import annotations

import collections
import os
import signal
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from runner.system.procs import wait_gone
from tests.conftest import JobRunner, read_journal, wait_until_gone

pytest.importorskip("distributed")
pytestmark = pytest.mark.timeout(180)

SQUARES = """\
version: 1
executor: dask
workers: 2
tasks:
  - name: "sq{{ i }}"
    call: dask_tasks:square_where
    args: ["{{ i }}"]
    foreach:
      i: {range: [0, 400]}
"""


def test_batches_keep_a_record_per_task_with_its_worker_pid(job_folder: JobRunner) -> None:
    done = job_folder.run(job_folder.write(SQUARES), timeout=120)
    assert done.returncode == 0, done.stderr
    runner = done.events("job_started")[0]
    records = done.final()
    assert len(records) == 400
    assert all(r["result"][0] == r["index"] ** 2 for r in records.values())
    per_key = collections.Counter(r["result"][1] for r in records.values())
    assert max(per_key.values()) > 1 and len(per_key) < 200, "the calls were not batched"
    workers = {r["pid"] for r in records.values()}
    assert 1 <= len(workers) <= 2 and runner["pid"] not in workers
    assert {r["ppid"] for r in records.values()} == {runner["pid"]}
    for key in (k for k, count in per_key.items() if count > 1):
        assert len({r["pid"] for r in records.values() if r["result"][1] == key}) == 1
    assert sorted(e["task"] for e in done.events("task_started")) == sorted(records)


SHORT_THEN_LONG = """\
version: 1
executor: dask
workers: 2
tasks:
  - name: "sq{{ i }}"
    call: dask_tasks:square_where
    args: ["{{ i }}"]
    foreach:
      i: {range: [0, 300]}
  - name: "nap{{ i }}"
    call: dask_tasks:nap_where
    args: [0.5]
    foreach:
      i: {range: [0, 4]}
"""


def test_calls_of_an_entry_not_known_to_be_short_get_a_dask_task_each(
        job_folder: JobRunner) -> None:
    """The last batch of a short entry does not carry the next entry's calls along."""
    done = job_folder.run(job_folder.write(SHORT_THEN_LONG), timeout=120)
    assert done.returncode == 0, done.stderr
    records = done.final().values()
    short = collections.Counter(r["result"][1] for r in records if r["name"].startswith("sq"))
    assert max(short.values()) > 1, "the short calls were not batched"
    naps = [r["result"] for r in records if r["name"].startswith("nap")]
    assert len(naps) == 4 and len(set(naps)) == 4 and not set(naps) & set(short), naps


def _misbehaving(folder: Path, action: str, timeout: str = "") -> str:
    return f"""\
version: 1
executor: dask
workers: 2
shutdown: {{grace: 1s}}
tasks:
  - name: "t{{{{ i }}}}"
    call: dask_tasks:once_in_batch
    args: ["{{{{ i }}}}", "{folder / 'flag'}", {action}]
    foreach:
      i: {{range: [0, 400]}}
{timeout}"""


def _the_others_ran_ok(records: dict[str, dict[str, object]], culprit: str) -> None:
    others = {task: r for task, r in records.items() if task != culprit}
    assert len(others) == 399 and {r["status"] for r in others.values()} == {"ok"}
    assert all(r["result"] == r["index"] ** 2 for r in others.values())


def _culprit(records: dict[str, dict[str, object]], status: str) -> str:
    bad = [task for task, r in records.items() if r["status"] != "ok"]
    assert len(bad) == 1 and records[bad[0]]["status"] == status, bad
    return bad[0]


def test_a_timeout_inside_a_batch_stops_that_task_only(job_folder: JobRunner) -> None:
    job = job_folder.write(_misbehaving(job_folder.folder, "nap", "    timeout: 5s\n"))
    done = job_folder.run(job, timeout=150)
    assert done.returncode == 1, done.stderr
    assert (job_folder.folder / "flag").exists(), "no call ran inside a batch"
    assert done.elapsed < 50, f"a 60 s call was not stopped: {done.elapsed:.1f}s"
    records = done.final()
    culprit = _culprit(records, "timeout")
    _the_others_ran_ok(records, culprit)
    assert [e["attempt"] for e in done.events("task_finished") if e["task"] == culprit] == [1]


def test_a_worker_killed_inside_a_batch_blames_the_running_task(job_folder: JobRunner) -> None:
    done = job_folder.run(job_folder.write(_misbehaving(job_folder.folder, "die")), timeout=150)
    assert done.returncode == 1, done.stderr
    assert (job_folder.folder / "flag").exists(), "no call ran inside a batch"
    records = done.final()
    culprit = _culprit(records, "crashed")
    _the_others_ran_ok(records, culprit)
    assert [e["attempt"] for e in done.events("task_finished") if e["task"] == culprit] == [1]


def test_ctrl_c_during_a_batch_lets_the_running_call_finish_and_starts_no_more(
        job_folder: JobRunner) -> None:
    """SIGINT with `shutdown.wait` and `cancel_pending`: the call running in a batch ends
    ok, and neither its batch nor any other starts a call after it."""
    flag = job_folder.folder / "flag"
    began = time.monotonic()
    process = job_folder.start(job_folder.write(_misbehaving(job_folder.folder, "pause")),
                               start_new_session=True)
    journal = job_folder.folder / "journal.jsonl"
    deadline = time.monotonic() + 90
    while not _seen_running(flag, journal) and time.monotonic() < deadline:
        assert process.poll() is None, "the runner ended before a batch paused"
        time.sleep(0.02)
    assert _seen_running(flag, journal), "the runner saw no call of a batch pause in 90 s"
    os.killpg(process.pid, signal.SIGINT)
    done = job_folder.finish(process, began, timeout=60)
    assert done.returncode == 130, done.stderr
    records = [r for r in done.events("task_finished") if r["final"]]
    paused = [r for r in records if r["duration"] >= 2.5]
    assert len(paused) == 1 and paused[0]["status"] == "ok", paused
    later = [r["name"] for r in records
             if r["status"] == "ok" and r["started"] > paused[0]["finished"]]
    assert not later, f"calls started after the stop: {later}"
    assert done.events("job_finished")[0]["counts"]["cancelled"] >= 1


def _seen_running(flag: Path, journal: Path) -> bool:
    """Whether the call that claimed `flag` has a task_started record: the runner saw it
    start (until then, a stop counts it among the calls not started)."""
    try:
        index = int(flag.read_text().split()[1])
        records = read_journal(journal)
    except (OSError, IndexError, ValueError):  # not written yet, or a line half written
        return False
    return any(e["event"] == "task_started" and e["index"] == index for e in records)


def test_a_runner_killed_during_a_batch_leaves_nothing_behind(job_folder: JobRunner) -> None:
    flag = job_folder.folder / "flag"
    process = job_folder.start(job_folder.write(_misbehaving(job_folder.folder, "nap")),
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not flag.exists() and time.monotonic() < deadline:
            assert process.poll() is None, "the runner ended before a batch napped"
            time.sleep(0.05)
        assert flag.exists(), "no call ran inside a batch in 90 s"
        cluster = psutil.Process(process.pid).children(recursive=True)
        assert len(cluster) >= 2, "the LocalCluster's processes were not found"
        journal = read_journal(job_folder.folder / "journal.jsonl")
        run_id = next(e for e in journal if e["event"] == "job_started")["run"]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert not wait_gone(cluster, 20), "the LocalCluster's processes outlived the runner"
    _, left = wait_until_gone(job_folder.marker, 20)
    assert not left, f"processes outlived the runner: {left}"
    markers = Path(tempfile.gettempdir()) / f"runner-dask-{run_id}"
    deadline = time.monotonic() + 10
    while markers.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not markers.exists(), "the run's marker files were left behind"

