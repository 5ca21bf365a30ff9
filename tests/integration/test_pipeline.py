"""Pipelines against real processes: fan-out, one-to-one, one-to-group, fan-in with `as`
in plan order, stages that are not barriers, `if`, skipping, and `result` of commands.
Stops, signals and resume are in test_pipeline_stops.py. `job_runner` checks that no
process outlives a test."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, RUNNER, Finished, JobRunner

pytestmark = pytest.mark.timeout(120)

STEPS = '''
import json
import os
import pathlib
import time


def double(x):
    return 2 * x


def gather(*items):
    return list(items)


def fail(x=None):
    raise ValueError(f"no {x}")


def wait_for(path, x=None):
    """Ends once `path` exists (another task makes it): proof that both ran at once."""
    deadline = time.monotonic() + 60
    while not pathlib.Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.02)
    return x


def hold(path, x):
    """Input 0 waits for `path`; the others go at once."""
    return wait_for(path, x) if x == 0 else x


def touch(path, x=None):
    pathlib.Path(path).write_text("")
    return x


def count(name, x=None):
    """Appends a line to `name` per call, so a test can tell how often a task ran."""
    with open(name, "a") as out:
        out.write(f"{x}\\n")
    return x
'''

EXECUTORS = ["pool", "process", "mp-pool"]


def steps(job_runner: JobRunner) -> JobRunner:
    (job_runner.folder / "steps.py").write_text(STEPS)
    return job_runner


def results(done: Finished) -> dict[str, Any]:
    return {task: record.get("result") for task, record in done.final().items()}


FLOW = """
version: 1
executor: {executor}
workers: 2
tasks:
  - {{name: prepare, call: steps:double, args: [5]}}
  - name: "a-{{{{ i }}}}"
    call: steps:hold
    args: ["flag-3", "{{{{ i }}}}"]
    foreach: {{i: [0, 1, 2, 3]}}
    needs: [prepare]
  - name: "b-{{{{ i }}}}"
    call: steps:gather
    args: ["{{{{ i }}}}", "{{{{ r }}}}", "{{{{ p }}}}"]
    foreach: {{i: [0, 1, 2, 3]}}
    needs: [{{task: "a-{{{{i}}}}", as: r}}, {{task: prepare, as: p}}]
  - name: "flag-{{{{ i }}}}"
    call: steps:touch
    args: ["flag-{{{{ i }}}}"]
    foreach: {{i: [3]}}
    needs: ["b-{{{{ i }}}}"]
  - name: gather
    call: steps:gather
    args: ["{{{{ all }}}}"]
    needs: [{{task: "b-{{{{ i }}}}", as: all}}]
"""


@pytest.mark.parametrize("executor", EXECUTORS)
def test_fan_out_one_to_one_and_fan_in_flow_without_stage_barriers(
        job_runner: JobRunner, executor: str) -> None:
    """a-0 waits for a file that only flag-3 makes, and flag-3 needs b-3 which needs a-3:
    the run ends ok only if the chain of input 3 flows while a-0 still runs."""
    runner = steps(job_runner)
    job = runner.write(FLOW.format(executor=executor))
    done = runner.run(job)
    assert done.returncode == 0, done.stderr
    got = results(done)
    assert got["prepare"] == 10
    assert [got[f"b-{{{{ i }}}}[i={i}]"] for i in range(4)] == [[i, i, 10] for i in range(4)]
    assert got["gather"] == [[[i, i, 10] for i in range(4)]]  # plan order
    final = done.final()
    a0, flag = final["a-{{ i }}[i=0]"], final["flag-{{ i }}[i=3]"]
    assert flag["started"] <= a0["finished"]  # a-0 ends only once flag-3 made its file
    for i in range(4):  # each b started after its own a ended
        assert final[f"b-{{{{ i }}}}[i={i}]"]["started"] >= final[f"a-{{{{ i }}}}[i={i}]"][
            "finished"]


def test_spans_carry_a_one_to_one_chain(job_runner: JobRunner) -> None:
    """Quiet on a pool: chains without `as` go in spans, and every task still waits for
    its own need."""
    runner = steps(job_runner)
    job = runner.write("""
version: 1
workers: 2
tasks:
  - name: "a-{{ i }}"
    call: steps:count
    args: ["a.txt", "{{ i }}"]
    foreach: {i: {range: [0, 3000]}}
  - name: "b-{{ i }}"
    call: steps:double
    args: ["{{ i }}"]
    foreach: {i: {range: [0, 3000]}}
    needs: ["a-{{ i }}"]
  - {name: last, call: steps:double, args: [1], needs: ["b-{{ i }}"]}
""")
    done = runner.run(job, "--quiet")
    assert done.returncode == 0, done.stderr
    final = done.final()
    assert len(final) == 6001 and {r["status"] for r in final.values()} == {"ok"}
    assert sorted(int(x) for x in (runner.folder / "a.txt").read_text().split()) == list(
        range(3000))
    last_b = max(r["finished"] for t, r in final.items() if t.startswith("b-"))
    assert final["last"]["started"] >= last_b


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("executor", EXECUTORS)
def test_one_to_group_binds_one_axis_and_gathers_the_other_in_plan_order(
        job_runner: JobRunner, executor: str, mode: str) -> None:
    runner = steps(job_runner)
    job = runner.write(f"""
version: 1
executor: {executor}
mode: {mode}
workers: 2
tasks:
  - name: "a-{{{{ x }}}}-{{{{ y }}}}"
    call: steps:gather
    args: ["{{{{ x }}}}", "{{{{ y }}}}"]
    foreach: {{x: [p, q], y: [3, 1, 2]}}
  - name: "b-{{{{ x }}}}"
    call: steps:gather
    args: ["{{{{ got }}}}"]
    foreach: {{x: [q, p]}}
    needs: [{{task: "a-{{{{ x }}}}-{{{{ y }}}}", as: got}}]
""")
    done = runner.run(job)
    assert done.returncode == 0, done.stderr
    got = results(done)
    assert got["b-{{ x }}[x=p]"] == [[["p", 3], ["p", 1], ["p", 2]]]
    assert got["b-{{ x }}[x=q]"] == [[["q", 3], ["q", 1], ["q", 2]]]


IFS = """
version: 1
workers: 2
on_failure: continue
tasks:
  - {{name: "ok-{{{{ i }}}}", call: steps:double, args: ["{{{{ i }}}}"], foreach: {{i: [1, 2]}}}}
  - {{name: "bad-{{{{ i }}}}", call: {bad}, args: ["{{{{ i }}}}"], foreach: {{i: [1, 2]}}}}
  - {{name: "next-{{{{ i }}}}", call: steps:double, args: [1], foreach: {{i: [1, 2]}},
     needs: ["bad-{{{{ i }}}}"]}}
  - {{name: "after-{{{{ i }}}}", call: steps:double, args: [1], foreach: {{i: [1, 2]}},
     needs: ["next-{{{{ i }}}}"]}}
  - {{name: on-failure, call: steps:double, args: [1], needs: ["bad-{{{{ i }}}}"], if: failure}}
  - {{name: quiet, call: steps:double, args: [1], needs: ["ok-{{{{ i }}}}"], if: failure}}
  - name: always
    call: steps:gather
    args: ["{{{{ r }}}}"]
    needs: [{{task: "bad-{{{{ i }}}}", as: r}}, "after-{{{{ i }}}}"]
    if: always
"""


def test_if_conditions_skip_and_skips_spread_under_success(job_runner: JobRunner) -> None:
    runner = steps(job_runner)
    done = runner.run(runner.write(IFS.format(bad="steps:fail")))
    assert done.returncode == 1, done.stderr
    final = done.final()
    status = {task: record["status"] for task, record in final.items()}
    assert status["next-{{ i }}[i=1]"] == status["after-{{ i }}[i=2]"] == "skipped"
    assert status["on-failure"] == status["always"] == "ok"
    assert status["quiet"] == "skipped"
    assert final["always"]["result"] == [[None, None]]  # failed tasks give null, in place
    skipped = final["next-{{ i }}[i=1]"]
    assert skipped["attempt"] == 1 and skipped["final"] is True
    assert skipped["pid"] is None and skipped["ppid"] is None and skipped["started"] is None
    assert skipped["error"]["message"] == "needs bad-1 ended failed"
    assert final["after-{{ i }}[i=1]"]["error"]["message"] == "needs next-1 ended skipped"
    started = {e["task"] for e in done.events("task_started")}
    assert not {t for t, s in status.items() if s == "skipped"} & started
    assert len([e for e in done.events("task_finished") if e["task"] == "quiet"]) == 1
    counts = done.events("job_finished")[0]["counts"]
    assert counts["skipped"] == 5 and counts["failed"] == 2
    assert "5 skipped" in done.stdout


def test_ok_and_skipped_alone_exit_zero(job_runner: JobRunner) -> None:
    runner = steps(job_runner)
    done = runner.run(runner.write(IFS.format(bad="steps:double")))
    assert done.returncode == 0, done.stderr
    status = {task: record["status"] for task, record in done.final().items()}
    assert status["on-failure"] == status["quiet"] == "skipped"
    assert status["always"] == "ok"
    report = subprocess.run([RUNNER, "report", str(runner.folder / "journal.jsonl")],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert [line.split() for line in report.splitlines() if line.strip().startswith(
        "skipped")] == [["skipped", "2"]]


def test_commands_pass_their_stdout_as_results(job_runner: JobRunner) -> None:
    runner = steps(job_runner)
    job = runner.write("""
version: 1
workers: 2
tasks:
  - {name: numbers, command: "printf '[1, 2, 3]\\n'", result: json}
  - {name: word, command: [echo, hello world], result: stdout}
  - {name: bad, command: "echo '{nope'", result: json}
  - {name: big, command: "head -c 1100000 /dev/zero", result: stdout}
  - name: shell
    command: "printf '%s|%s' {{ n }} {{ w }}"
    result: stdout
    needs: [{task: numbers, as: n}, {task: word, as: w}]
  - name: call
    call: steps:gather
    args: ["{{ n }}", "{{ w }}"]
    needs: [{task: numbers, as: n}, {task: word, as: w}]
""")
    done = runner.run(job)
    assert done.returncode == 1
    final = done.final()
    assert final["numbers"]["result"] == [1, 2, 3] and final["word"]["result"] == "hello world"
    assert final["bad"]["status"] == "failed" and final["bad"]["error"]["type"] == "ResultNotJson"
    assert final["big"]["status"] == "failed" and final["big"]["error"]["type"] == \
        "ResultTooLarge"
    assert final["shell"]["result"] == "[1, 2, 3]|hello world"  # each one word
    assert final["call"]["result"] == [[1, 2, 3], "hello world"]


def test_a_bound_value_the_needed_entry_lacks_is_refused_before_anything_runs(
        job_runner: JobRunner) -> None:
    runner = steps(job_runner)
    job = runner.write("""
version: 1
tasks:
  - {name: "a-{{ f }}", call: steps:touch, args: ["ran-{{ f }}"], foreach: {f: [x, y]}}
  - {name: "b-{{ f }}", call: steps:double, args: [1], foreach: {f: [x, z]},
     needs: ["a-{{ f }}"]}
""")
    done = runner.run(job)
    assert done.returncode == 2
    assert 'task "b-{{ f }}" with f=z needs "a-{{ f }}", but no task of it has f=z' in \
        done.stderr
    assert "Traceback" not in done.stderr
    assert not list(Path(runner.folder).glob("ran-*")) and not done.events("task_started")


def test_the_example_pipeline_runs(job_runner: JobRunner) -> None:
    shutil.copytree(REPO / "jobs" / "pipeline" / "in", job_runner.folder / "pipeline" / "in")
    shutil.copy(REPO / "jobs" / "pipeline_tasks.py", job_runner.folder)
    job = job_runner.write((REPO / "jobs" / "pipeline.yml").read_text())
    done = job_runner.run(job)
    assert done.returncode == 0, done.stderr
    final = done.final()
    assert final["summary"]["result"] == 25 and final["cleanup"]["status"] == "ok"
    summary = json.loads((job_runner.folder / "pipeline" / "out" / "summary.json").read_text())
    assert [count["file"] for count in summary] == ["alpha.txt", "beta.txt", "gamma.txt"]
    assert not (job_runner.folder / "pipeline" / "out" / "scratch").exists()


def test_dry_run_shows_each_tasks_needs(job_runner: JobRunner) -> None:
    job = job_runner.write("""
version: 1
tasks:
  - {name: prepare, call: m:f}
  - {name: "a-{{ x }}-{{ y }}", call: m:f, foreach: {x: [p, q], y: [1, 2]}, needs: [prepare]}
  - name: "b-{{ x }}"
    call: m:f
    args: ["{{ got }}"]
    foreach: {x: [p, q]}
    needs: [{task: "a-{{x}}-{{ y }}", as: got}]
""")
    shown = subprocess.run([RUNNER, "run", str(job), "--dry-run"], capture_output=True,
                           text=True, timeout=60, env=job_runner.env())
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[1:3] == ["     1  a-p-1  m:f()", "        needs: prepare"]
    assert lines[9:11] == ["     5  b-p  m:f('{{ got }}')", "        needs: a-p-{{ y }}"]
    assert "needs" not in lines[0]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_dependent_waits_for_the_retry_and_gets_its_result(job_runner: JobRunner,
                                                             executor: str) -> None:
    runner = steps(job_runner)
    job = runner.write(f"""
version: 1
executor: {executor}
workers: 2
tasks:
  - {{name: flaky, call: faults:flaky, args: [counter, 2], retries: 2, retry_delay: 100ms}}
  - {{name: after, call: steps:double, args: ["{{{{ r }}}}"], needs: [{{task: flaky, as: r}}]}}
""")
    done = runner.run(job)
    assert done.returncode == 0, done.stderr
    final = done.final()
    assert final["flaky"]["attempt"] == 3 and final["after"]["result"] == 6
    assert final["after"]["started"] >= final["flaky"]["finished"]
