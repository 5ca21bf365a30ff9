"""Pipelines that stop: on_failure continue/stop/abort with a cleanup under `if: always`,
a signal while tasks wait on needs, and a resume after SIGKILL in the middle of a
pipeline (recorded results reach dependents, nothing recorded ok runs twice). Real
processes; `job_runner` checks that none outlives a test."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from tests.conftest import JobRunner, read_journal
from tests.integration.test_journal import finish, wait_for_lines
from tests.integration.test_pipeline import EXECUTORS, steps

pytestmark = pytest.mark.timeout(120)

MORE_STEPS = '''

def nap(seconds, x=None):
    time.sleep(seconds)
    return x


def tenfold(x, r):
    """Input 3 waits for a file `go`; each call leaves a line in b.txt."""
    count("b.txt", x)
    if x == 3:
        wait_for("go")
    return r * 10
'''

STOPPING = """
version: 1
executor: {executor}
workers: 2
on_failure: {on_failure}
tasks:
  - {{name: bad, call: steps:fail}}
  - {{name: hold, call: steps:nap, args: [{hold}]}}
  - {{name: "w-{{{{ i }}}}", call: steps:double, args: ["{{{{ i }}}}"], foreach: {{i: [1, 2, 3]}},
     needs: [hold]}}
  - name: cleanup
    call: steps:gather
    args: ["{{{{ got }}}}"]
    needs: [{{task: "w-{{{{ i }}}}", as: got}}, bad]
    if: always
"""


def more_steps(job_runner: JobRunner) -> JobRunner:
    runner = steps(job_runner)
    with (runner.folder / "steps.py").open("a") as out:
        out.write(MORE_STEPS)
    return runner


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize(("on_failure", "cleanup", "w_status"), [
    ("continue", [[2, 4, 6]], "ok"),
    ("stop", [[None, None, None]], None),  # cancelled without a record; cleanup still runs
    ("abort", None, None),
])
def test_on_failure_and_the_cleanup_under_always(job_runner: JobRunner, executor: str,
                                                 on_failure: str, cleanup: object,
                                                 w_status: str | None) -> None:
    runner = more_steps(job_runner)
    # under abort, hold must still run when bad fails, however slow the machine is
    hold = 60.0 if on_failure == "abort" else 1.0
    done = runner.run(runner.write(STOPPING.format(executor=executor, on_failure=on_failure,
                                                   hold=hold)))
    assert done.returncode == 1, done.stderr
    final = done.final()
    assert final["bad"]["status"] == "failed"
    assert final.get("w-{{ i }}[i=1]", {}).get("status") == w_status
    counts = done.events("job_finished")[0]["counts"]
    if cleanup is None:  # hold is interrupted, or cancelled if bad failed before it began
        hold = final.get("hold", {}).get("status")
        assert "cleanup" not in final and hold in ("interrupted", "cancelled", None)
        assert counts["cancelled"] + counts["interrupted"] == 5
    else:
        assert final["cleanup"]["status"] == "ok" and final["cleanup"]["result"] == cleanup
        assert final["hold"]["status"] == "ok"
        assert counts["cancelled"] == (3 if on_failure == "stop" else 0)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_signal_while_tasks_wait_on_needs_cancels_them_all(job_runner: JobRunner,
                                                              executor: str) -> None:
    runner = more_steps(job_runner)
    job = runner.write(f"""
version: 1
executor: {executor}
workers: 2
shutdown: {{wait: false, grace: 1s}}
tasks:
  - {{name: hold, call: steps:wait_for, args: [never]}}
  - {{name: "w-{{{{ i }}}}", call: steps:double, args: [1], foreach: {{i: [1, 2]}}, needs: [hold]}}
  - {{name: cleanup, command: "touch cleaned", needs: ["w-{{{{ i }}}}"], if: always}}
""")
    journal = runner.folder / "journal.jsonl"
    process = runner.start(job, journal=journal)
    try:
        wait_for_lines(journal, '"task_started"')
        process.send_signal(signal.SIGTERM)
    finally:
        finish(process)
    assert process.returncode == 143
    events = read_journal(journal)
    ended = [(e["task"], e["status"]) for e in events if e["event"] == "task_finished"]
    assert ended == [("hold", "interrupted")]
    assert events[-1]["counts"]["cancelled"] == 3
    assert not (runner.folder / "cleaned").exists()


RESUMED = """
version: 1
executor: {executor}
workers: 2
tasks:
  - {{name: "a-{{{{ i }}}}", call: steps:count, args: [a.txt, "{{{{ i }}}}"],
     foreach: {{i: [0, 1, 2, 3, 4, 5]}}}}
  - name: "b-{{{{ i }}}}"
    call: steps:tenfold
    args: ["{{{{ i }}}}", "{{{{ r }}}}"]
    foreach: {{i: [0, 1, 2, 3, 4, 5]}}
    needs: [{{task: "a-{{{{ i }}}}", as: r}}]
  - {{name: total, call: steps:gather, args: ["{{{{ bs }}}}"],
     needs: [{{task: "b-{{{{ i }}}}", as: bs}}]}}
"""


@pytest.mark.parametrize("executor", EXECUTORS)
def test_resume_after_sigkill_feeds_recorded_results_and_reruns_nothing_ok(
        job_runner: JobRunner, executor: str) -> None:
    runner = more_steps(job_runner)
    job = runner.write(RESUMED.format(executor=executor))
    journal = runner.folder / "journal.jsonl"
    process = runner.start(job, journal=journal)
    try:  # b-3 waits for `go`: the run is killed with every a and some b recorded ok
        wait_for_lines(journal, '"task_finished"', 6 + 3)
        process.kill()
    finally:
        finish(process)
    before = Counter(line for line in (runner.folder / "a.txt").read_text().split())
    assert before == Counter(str(i) for i in range(6))
    (runner.folder / "go").touch()
    done = runner.run(job, "--resume", str(journal))
    assert done.returncode == 0, done.stderr
    oks = Counter(e["task"] for e in done.journal if e["event"] == "task_finished"
                  and e["status"] == "ok")
    assert set(oks.values()) == {1}, "a task recorded ok ran again"
    assert Counter((runner.folder / "a.txt").read_text().split()) == before
    final = done.final()
    assert final["total"]["result"] == [[0, 10, 20, 30, 40, 50]]
    assert final["b-{{ i }}[i=3]"]["result"] == 30  # its `r` came from the first run's a-3
    resumed = done.events("job_started")[-1]
    assert resumed["resumed"] is True


def test_a_signal_after_on_failure_stop_cancels_the_cleanup_it_kept(
        job_runner: JobRunner) -> None:
    runner = more_steps(job_runner)
    job = runner.write("""
version: 1
workers: 2
on_failure: stop
shutdown: {wait: false, grace: 1s}
tasks:
  - {name: bad, call: steps:fail}
  - {name: hold, call: steps:wait_for, args: [never]}
  - {name: cleanup, command: "touch cleaned", needs: [hold, bad], if: always}
""")
    journal = runner.folder / "journal.jsonl"
    process = runner.start(job, journal=journal)
    try:
        wait_for_lines(journal, '"status":"failed"')
        wait_for_lines(journal, '"name":"hold"')
        process.send_signal(signal.SIGTERM)
    finally:
        finish(process)
    assert process.returncode == 143
    events = read_journal(journal)
    ended = {e["task"]: e["status"] for e in events if e["event"] == "task_finished"}
    assert ended == {"bad": "failed", "hold": "interrupted"}
    assert events[-1]["counts"]["cancelled"] == 1
    assert not (runner.folder / "cleaned").exists()
