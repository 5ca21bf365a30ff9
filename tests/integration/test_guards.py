"""Live guards with a real runner: a `min_free_memory` above what this machine has
holds every task back, says why on stderr, and Ctrl-C still ends the run (exit 130)
with nothing started and nothing left behind (the `marker` fixture)."""

from __future__ import annotations

import signal
import time

import psutil
import pytest

from tests.conftest import START_METHODS, JobRunner, read_journal

pytestmark = pytest.mark.timeout(120)

HELD_JOB = """
version: 1
start_method: {start_method}
workers: 2
admission: {{min_free_memory: {memory}}}
tasks:
  - name: "call-{{{{ i }}}}"
    call: faults:square
    args: ["{{{{ i }}}}"]
    foreach: {{i: {{range: [0, 3]}}}}
  - name: cmd
    command: "true"
"""


@pytest.mark.parametrize("start_method", START_METHODS)
def test_a_machine_short_of_memory_holds_everything_and_ctrl_c_still_stops(
        job_runner: JobRunner, start_method: str) -> None:
    memory = psutil.virtual_memory().total * 2
    job = job_runner.write(HELD_JOB.format(start_method=start_method, memory=memory))
    journal = job_runner.folder / "journal.jsonl"
    began = time.monotonic()
    process = job_runner.start(job, "--quiet")
    deadline = time.monotonic() + 30
    while not read_journal(journal) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # held for a while: several looks at the machine
    assert process.poll() is None, "the run ended while the machine was short"
    process.send_signal(signal.SIGINT)
    done = job_runner.finish(process, began, timeout=60)
    assert done.returncode == 130, done.stderr
    assert "runner: holding back new tasks: " in done.stderr
    assert "below admission.min_free_memory" in done.stderr
    assert done.stderr.count("holding back") == 1
    assert not done.events("task_started")
    assert done.events("job_finished")[0]["counts"]["cancelled"] == 4
