"""Failure rules on real processes: `retry_on` retries only the failures it names (by
exit code, a death by signal as 128+N, an exception's base class), `ok_exit_codes` turns
a command's exit code into ok, `abort_on` ends the run at the first attempt it matches.
The `marker` fixture proves no process outlives a run."""

from __future__ import annotations

import pytest

from tests.conftest import START_METHODS, JobRunner

pytestmark = pytest.mark.timeout(120)

TASKS = '''
import sys


def refuse():
    raise ConnectionRefusedError("nobody listens")


def wrong():
    raise ValueError("not a number")


def leave(code):
    sys.exit(code)
'''

RETRIES = """
version: 1
start_method: {start_method}
workers: 3
defaults: {{retries: 2, retry_delay: 0.05s}}
tasks:
  - name: exit-3
    command: "exit 3"
    retry_on: {{exit_codes: [3]}}
  - name: exit-4
    command: "exit 4"
    retry_on: {{exit_codes: [3]}}
  - name: killed
    command: "kill -9 $$"
    retry_on: {{exit_codes: [137]}}
  - name: refused
    call: ruletasks:refuse
    retry_on: {{exceptions: [OSError]}}
  - name: wrong
    call: ruletasks:wrong
    retry_on: {{exceptions: [OSError]}}
  - name: sys-exit
    call: ruletasks:leave
    args: [5]
    retry_on: {{exit_codes: [5]}}
  - name: any
    command: "exit 9"
  - name: grep-none
    command: "exit 1"
    ok_exit_codes: [0, 1]
  - name: grep-error
    command: "exit 2"
    ok_exit_codes: [0, 1]
"""


@pytest.mark.parametrize("start_method", START_METHODS)
def test_retry_on_and_ok_exit_codes(job_runner: JobRunner, start_method: str) -> None:
    (job_runner.folder / "ruletasks.py").write_text(TASKS)
    finished = job_runner.run(job_runner.write(RETRIES.format(start_method=start_method)))
    assert finished.returncode == 1, finished.stderr
    attempts: dict[str, int] = {}
    for record in finished.events("task_finished"):
        attempts[record["name"]] = max(attempts.get(record["name"], 0), record["attempt"])
    final = {e["name"]: e for e in finished.events("task_finished") if e["final"]}
    assert attempts == {"exit-3": 3, "exit-4": 1, "killed": 3, "refused": 3, "wrong": 1,
                        "sys-exit": 3, "any": 3, "grep-none": 1, "grep-error": 3}
    assert final["grep-none"]["status"] == "ok" and final["grep-none"]["exit_code"] == 1
    assert "error" not in final["grep-none"]
    assert final["grep-error"]["status"] == "failed"
    assert final["refused"]["error"]["type"] == "ConnectionRefusedError"


ABORT = """
version: 1
workers: 4
max_failures: 100
abort_on: {{exceptions: [LookupError]}}
shutdown: {{grace: 1s}}
tasks:
  - name: harmless
    command: "exit 2"
  - name: fatal
    call: ruletasks:lookup
  - name: long-command
    command: ["sleep", "60"]
  - name: long-call
    call: ruletasks:nap
    args: [60]
"""


def test_abort_on_ends_the_run_at_the_first_match(job_runner: JobRunner) -> None:
    (job_runner.folder / "ruletasks.py").write_text(
        TASKS + "\n\ndef lookup():\n    import time\n    time.sleep(0.5)\n"
        "    raise KeyError('gone')\n\n\ndef nap(seconds):\n    import time\n"
        "    time.sleep(seconds)\n")
    finished = job_runner.run(job_runner.write(ABORT.format()), timeout=60)
    assert finished.returncode == 1, finished.stderr
    assert finished.elapsed < 40
    final = {e["name"]: e for e in finished.events("task_finished") if e["final"]}
    assert final["fatal"]["status"] == "failed"
    assert final["harmless"]["status"] == "failed"  # no match: it counts, nothing more
    for name in ("long-command", "long-call"):
        assert final[name]["status"] == "interrupted"
        assert "abort_on" in final[name]["error"]["message"]
    assert "abort_on matched by fatal" in finished.stdout + finished.stderr
