"""Every attempt's record carries what it used: `peak_rss` (bytes) and `cpu_time`
(seconds). Real tasks allocate and spin; the journal must show it, for callables on
every local executor and start method and for commands. `enforce_memory` stops a task
whose tree holds more than its memory claim (each task bounds itself with RLIMIT_AS so
the machine stays safe). The `marker` fixture proves no process outlives a run."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

import pytest

from tests.conftest import RUNNER, START_METHODS, JobRunner

pytestmark = pytest.mark.timeout(180)

MIB = 1 << 20
BIG = 200
AT_LEAST = BIG * MIB * 0.97
"""A worker's growth counts from its size when it last measured itself: pages it freed
since then and reuses for the allocation are not counted twice."""

TASKS = '''
import resource
import time


def bounded():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.RLIM_INFINITY))


def hold(mib, seconds=0.0):
    block = bytearray(mib << 20)  # zero-filled: every page is touched
    time.sleep(seconds)
    return len(block)


def spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return True


def trivial():
    return 1


def hold_at(i, big_at):
    return hold(300, 60) if i == big_at else hold(0)
'''

CALLS = """
version: 1
executor: {executor}
start_method: {start_method}
workers: 1
tasks:
  - name: hold
    call: usetasks:hold
    args: [{big}]
  - name: trivial
    call: usetasks:trivial
  - name: spin
    call: usetasks:spin
    args: [0.5]
"""

PY = "python3"
SCRIPTS = {
    "hold.py": "import usetasks\nusetasks.hold(int(__import__('sys').argv[1]))\n",
    "spin.py": "import usetasks\nusetasks.spin(0.5)\n",
    "hog.py": "import usetasks\nusetasks.bounded()\nusetasks.hold(300, 60)\n",
}
COMMANDS = f"""
version: 1
workers: 2
tasks:
  - name: hold
    command: ["{PY}", "hold.py", "{BIG}"]
  - name: spin
    command: ["{PY}", "spin.py"]
  - name: trivial
    command: ["true"]
"""


def _write_tasks(job_runner: JobRunner) -> None:
    for name, text in {"usetasks.py": TASKS, **SCRIPTS}.items():
        (job_runner.folder / name).write_text(text)


def _usage(job_runner: JobRunner, text: str) -> dict[str, dict[str, object]]:
    _write_tasks(job_runner)
    finished = job_runner.run(job_runner.write(text))
    assert finished.returncode == 0, finished.stderr
    records = {e["name"]: e for e in finished.events("task_finished")}
    for record in records.values():
        assert isinstance(record["peak_rss"], int) and isinstance(record["cpu_time"], float)
    return records


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("executor", ["pool", "mp-pool", "process"])
def test_callables_record_their_memory_and_cpu(job_runner: JobRunner, executor: str,
                                               start_method: str) -> None:
    records = _usage(job_runner, CALLS.format(executor=executor, start_method=start_method,
                                              big=BIG))
    assert records["hold"]["peak_rss"] >= AT_LEAST  # type: ignore[operator]
    assert records["spin"]["cpu_time"] > 0.3  # type: ignore[operator]
    # the trivial task ran after the big one, in the same worker on the pools: it is
    # charged with what it added, not with what the worker once held
    small = 64 * MIB if executor == "process" else 8 * MIB  # a process of its own: all of it
    assert records["trivial"]["peak_rss"] < small  # type: ignore[operator]
    assert records["trivial"]["cpu_time"] < 0.3  # type: ignore[operator]


def test_commands_record_their_memory_and_cpu(job_runner: JobRunner) -> None:
    records = _usage(job_runner, COMMANDS)
    assert records["hold"]["peak_rss"] >= AT_LEAST  # type: ignore[operator]
    assert records["spin"]["cpu_time"] > 0.3  # type: ignore[operator]
    assert records["trivial"]["peak_rss"] < 64 * MIB  # type: ignore[operator]
    assert records["trivial"]["cpu_time"] < 0.3  # type: ignore[operator]


SPANNED = """
version: 1
workers: 1
start_method: {start_method}
tasks:
  - name: trivial
    call: usetasks:trivial
    foreach: {{i: {{range: [0, 400]}}}}
  - name: spin
    call: usetasks:spin
    args: [0.5]
  - name: hold
    call: usetasks:hold
    args: [{big}]
"""


@pytest.mark.parametrize("start_method", START_METHODS)
def test_short_attempts_are_charged_their_wall_time(job_runner: JobRunner,
                                                    start_method: str) -> None:
    """Quiet, a pool worker runs trivial calls in spans and reads its counters for none of
    them but one every 10 ms: every other such attempt's `cpu_time` is its `duration`,
    the same number. The attempts after them are still measured for themselves."""
    _write_tasks(job_runner)
    finished = job_runner.run(job_runner.write(SPANNED.format(start_method=start_method,
                                                              big=BIG)), "--quiet", timeout=120)
    assert finished.returncode == 0, finished.stderr
    records = finished.events("task_finished")
    trivial = [r for r in records if r["name"] == "trivial"]
    short = [r for r in trivial if r["duration"] < 0.001]
    assert len(trivial) == 400 and short  # a loaded machine may slow a few past 1 ms
    begun = datetime.fromisoformat(trivial[0]["started"]).timestamp()
    ended = datetime.fromisoformat(trivial[-1]["finished"]).timestamp()
    readings = 2 + (ended - begun) / 0.01  # the first, and one every 10 ms at most
    charged_wall = [r for r in short if r["cpu_time"] == r["duration"] and r["peak_rss"] == 0]
    assert len(short) > readings + 10, "too few short attempts to tell"  # else it cannot fail
    assert len(charged_wall) >= len(short) - readings, (len(short), len(charged_wall))
    by_name = {r["name"]: r for r in records}
    assert 0.4 < by_name["spin"]["cpu_time"] < 5  # its own half second, not the spans'
    assert by_name["hold"]["peak_rss"] >= AT_LEAST


ENFORCED = """
version: 1
executor: {executor}
start_method: {start_method}
workers: 3
enforce_memory: true
shutdown: {{grace: 1s}}
tasks:
  - name: hog-call
    resources: {{memory: 64MiB}}
    call: usetasks:hold
    args: [300, 60]
  - name: hog-command
    resources: {{memory: 64MiB}}
    command: ["{py}", "hog.py"]
  - name: within
    resources: {{memory: 1GiB}}
    call: usetasks:hold
    args: [50, 1]
"""


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("executor", ["pool", "process"])
def test_enforce_memory_stops_a_task_over_its_claim(job_runner: JobRunner, executor: str,
                                                    start_method: str) -> None:
    _write_tasks(job_runner)
    (job_runner.folder / "usetasks.py").write_text(  # the callable bounds itself too
        TASKS.replace("def hold(mib, seconds=0.0):\n", "def hold(mib, seconds=0.0):\n"
                      "    bounded()\n"))
    finished = job_runner.run(job_runner.write(ENFORCED.format(
        executor=executor, start_method=start_method, py=PY)), timeout=90)
    assert finished.returncode == 1, finished.stderr
    assert finished.elapsed < 50  # stopped, not waited for
    records = {e["name"]: e for e in finished.events("task_finished")}
    for name in ("hog-call", "hog-command"):
        record = records[name]
        assert record["status"] == "failed", record
        assert record["error"]["type"] == "MemoryLimit"
        assert "64.0 MiB" in record["error"]["message"]  # the claim, named
        assert record["peak_rss"] > 64 * MIB
    assert records["within"]["status"] == "ok"


def test_enforce_memory_reaches_tasks_sent_in_spans(job_runner: JobRunner) -> None:
    """Quiet, a pool worker runs a span of tasks it renders itself: the one over its
    claim is still stopped, and the others end ok."""
    _write_tasks(job_runner)
    (job_runner.folder / "usetasks.py").write_text(
        TASKS.replace("def hold(mib, seconds=0.0):\n", "def hold(mib, seconds=0.0):\n"
                      "    bounded()\n"))
    job = job_runner.write("""
version: 1
workers: 1
enforce_memory: true
shutdown: {grace: 1s}
defaults: {resources: {memory: 64MiB}}
tasks:
  - name: "t-{{ index }}"
    call: usetasks:hold_at
    args: ["{{ i }}", 11]
    foreach: {i: {range: [0, 14]}}
""")
    finished = job_runner.run(job, "--quiet", timeout=120)
    assert finished.returncode == 1, finished.stderr
    final = {e["name"]: e for e in finished.events("task_finished") if e["final"]}
    assert final["t-11"]["error"]["type"] == "MemoryLimit"
    assert [n for n, e in final.items() if e["status"] == "ok"] == [
        f"t-{i}" for i in range(14) if i != 11]


BLOATED = """
import os, sys
block = bytearray(400 << 20)  # every page touched: the mark rises to 400 MiB
del block
os.execv(sys.argv[1], sys.argv[1:])  # the runner inherits the mark in its ru_maxrss
"""


def test_a_command_is_measured_when_the_runner_inherited_a_high_mark(
        job_runner: JobRunner) -> None:
    """A runner started by a big process (an IDE, a test runner) reports a large
    `ru_maxrss` of its own; a command's peak is still told from the runner's."""
    _write_tasks(job_runner)
    (job_runner.folder / "bloated.py").write_text(BLOATED)
    job = job_runner.write(COMMANDS)
    journal = job_runner.folder / "journal.jsonl"
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "bloated.py", RUNNER, "run", str(job), "--journal", str(journal)],
        cwd=job_runner.folder, env=job_runner.env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    finished = job_runner.finish(process, began, journal=journal)
    assert finished.returncode == 0, finished.stderr
    records = {e["name"]: e for e in finished.events("task_finished")}
    assert records["hold"]["peak_rss"] >= AT_LEAST  # type: ignore[operator]
