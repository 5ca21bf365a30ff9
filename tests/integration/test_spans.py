"""Spans: workers render, run and journal runs of consecutive tasks themselves (the
console, when it prints each task, gets a compact row per ok task). Every guarantee
must hold on that path too: each task recorded exactly once, failures and crashes
attributed to their own task, timeouts enforced, retries run, and stops accounted for."""

from __future__ import annotations

import collections
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Finished, JobRunner

pytestmark = pytest.mark.timeout(120)

TASKS = """
import os, time

def f(i, fail_every=0, crash_at=-1, hang_at=-1):
    if fail_every and i % fail_every == 0 and i > 0:
        raise ValueError(f"bad {i}")
    if i == crash_at:
        os._exit(3)
    if i == hang_at:
        time.sleep(60)
    return i * i
"""


ONE_BY_ONE = ("--set", "max_tasks_per_worker=1000000")
"""Turns spans off (a worker's limit needs one task per message), nothing else."""


def _job(runner: JobRunner, executor: str, count: int, **kwargs: Any) -> Path:
    (runner.folder / "spanned.py").write_text(TASKS)
    arguments = ", ".join(f"{k}: {v}" for k, v in kwargs.items())
    return runner.write(f"""
version: 1
executor: {executor}
workers: 2
defaults: {{timeout: 2s}}
shutdown: {{grace: 1s}}
tasks:
  - name: t
    call: spanned:f
    args: ["{{{{ i }}}}"]
    kwargs: {{{arguments}}}
    foreach: {{i: {{range: [0, {count}]}}}}
""")


def _final(done: Finished) -> dict[str, dict[str, Any]]:
    final: dict[str, dict[str, Any]] = {}
    for record in done.events("task_finished"):
        if record["final"]:
            assert record["task"] not in final, f"{record['task']} recorded final twice"
            final[record["task"]] = record
    starts = collections.Counter((e["task"], e["attempt"]) for e in done.events("task_started"))
    assert max(starts.values()) == 1, "an attempt was announced twice"
    return final


@pytest.mark.parametrize("executor", ["pool", "mp-pool"])
def test_failures_crashes_and_timeouts_fall_on_their_own_task(job_runner: JobRunner,
                                                              executor: str) -> None:
    job = _job(job_runner, executor, 3000, fail_every=997, crash_at=1500, hang_at=2500)
    done = job_runner.run(job, "--quiet")
    assert done.returncode == 1, done.stderr
    final = _final(done)
    assert len(final) == 3000
    bad = {task: r["status"] for task, r in final.items() if r["status"] != "ok"}
    assert bad == {"t[i=997]": "failed", "t[i=1994]": "failed", "t[i=2991]": "failed",
                   "t[i=1500]": "crashed", "t[i=2500]": "timeout"}
    assert final["t[i=997]"]["error"]["type"] == "ValueError"
    assert all(r["result"] == int(t[4:-1]) ** 2 for t, r in final.items() if r["status"] == "ok")
    counts = done.events("job_finished")[0]["counts"]
    assert counts["ok"] == 2995 and sum(counts.values()) == 3000


def test_the_span_path_and_the_task_path_journal_the_same(job_runner: JobRunner) -> None:
    job = _job(job_runner, "pool", 300)
    quiet = job_runner.run(job, "--quiet", journal=job_runner.folder / "quiet.jsonl")
    loud = job_runner.run(job, *ONE_BY_ONE, journal=job_runner.folder / "loud.jsonl")
    keys = ("task", "name", "index", "attempt", "final", "status", "result", "spec_hash")

    def shape(done: Finished) -> list[tuple[Any, ...]]:
        return sorted(tuple(e.get(k) for k in keys) for e in done.events("task_finished"))

    assert shape(quiet) == shape(loud)
    assert {tuple(sorted(e)) for e in quiet.events("task_finished")} == \
           {tuple(sorted(e)) for e in loud.events("task_finished")}


def _task_lines(done: Finished) -> list[str]:
    """The console's task lines without what differs from run to run (PIDs, seconds)."""
    return [re.sub(r"  pid \d+ ppid \d+  \d+\.\d\ds", "", line)
            for line in done.stdout.splitlines() if line[:1] in "✓✗☠⏱"]


def test_the_console_prints_every_task_in_order_from_spans(job_runner: JobRunner) -> None:
    """The default console (stdout piped) takes spans: its lines are those of the
    one-by-one path, every task once, in plan order, failures in their places."""
    job = _job(job_runner, "pool", 3000, fail_every=997)
    spanned = job_runner.run(job, journal=job_runner.folder / "spanned.jsonl")
    single = job_runner.run(job, *ONE_BY_ONE, journal=job_runner.folder / "single.jsonl")
    assert spanned.returncode == single.returncode == 1, spanned.stderr
    lines = _task_lines(spanned)
    assert lines == _task_lines(single)
    assert [line.split()[2] for line in lines] == [f"t[i={i}]" for i in range(3000)]
    assert [i for i, line in enumerate(lines) if line.startswith("✗")] == [997, 1994, 2991]
    assert "out of order" not in spanned.stdout


def test_retries_of_span_tasks(job_runner: JobRunner) -> None:
    job = _job(job_runner, "pool", 500, fail_every=100)
    job.write_text(job.read_text().replace("defaults: {timeout: 2s}",
                                           "defaults: {timeout: 2s, retries: 1, "
                                           "retry_delay: 10ms}"))
    done = job_runner.run(job, "--quiet")
    failed = [e for e in done.events("task_finished") if e["status"] == "failed"]
    assert sorted((e["task"], e["attempt"], e["final"]) for e in failed) == sorted(
        [(f"t[i={i}]", 1, False) for i in range(100, 500, 100)]
        + [(f"t[i={i}]", 2, True) for i in range(100, 500, 100)])
    assert len(_final(done)) == 500


def test_sigint_accounts_for_every_task(job_runner: JobRunner) -> None:
    (job_runner.folder / "slowish.py").write_text(
        "import time\ndef f(i):\n    time.sleep(0.002)\n    return i\n")
    job = job_runner.write("""
version: 1
workers: 2
shutdown: {wait: false, grace: 1s}
tasks:
  - name: t
    call: slowish:f
    args: ["{{ i }}"]
    foreach: {i: {range: [0, 200000]}}
""")
    journal = job_runner.folder / "journal.jsonl"
    began = time.monotonic()
    process = job_runner.start(job, "--quiet", journal=journal)
    deadline = time.monotonic() + 30
    while sum(1 for _ in journal.open()) < 2000 if journal.exists() else True:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    done = job_runner.finish(process, began, journal=journal)
    assert done.returncode == 130, done.stderr
    final = _final(done)
    counts = done.events("job_finished")[0]["counts"]
    assert sum(counts.values()) == 200000
    assert counts["ok"] == sum(1 for r in final.values() if r["status"] == "ok")
    assert counts["ok"] > 0 and counts["cancelled"] > 0


SLOW_TAIL = """
import time

def f(i, slow_from):
    time.sleep(0.15 if i >= slow_from else 0.008)
    return i * i
"""


def test_a_span_whose_every_task_was_seen_running_ends(job_runner: JobRunner) -> None:
    """Slow tasks after quick ones: 8 ms tasks make spans of 2 (about 20 ms of work), the
    span sent after the last quick one holds two slow ones, and with a timeout each slow
    task is seen running at a tick and given its own Attempt. A span whose every task
    had an Attempt and ended ok was settled after its last place had been freed:
    KeyError, and the run died."""
    (job_runner.folder / "slowtail.py").write_text(SLOW_TAIL)
    job = job_runner.write("""
version: 1
executor: pool
workers: 1
defaults: {timeout: 5s}
tasks:
  - name: t
    call: slowtail:f
    args: ["{{ i }}"]
    kwargs: {slow_from: 40}
    foreach: {i: {range: [0, 46]}}
""")
    done = job_runner.run(job, "--quiet", timeout=100)
    assert done.returncode == 0, done.stderr
    final = _final(done)
    assert len(final) == 46 and {r["status"] for r in final.values()} == {"ok"}
