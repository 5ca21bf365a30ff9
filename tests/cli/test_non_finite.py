"""A task's data that JSON cannot write (`.nan`, `.inf`, `-.inf`) is a job-file error at
its place, through the real `runner validate` and `runner run`; finite floats run and are
journalled as strict JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RUNNER, JobRunner

HINT = ("has no JSON form, and the runner records a task's data as JSON (its journal, "
        "--dry-run --json); write it as text")


def _runner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([RUNNER, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def _strict(text: str) -> object:
    """JSON as RFC 8259 has it: `NaN` and `Infinity` are refused."""
    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(("spelling", "shown", "text"), [
    (".nan", ".nan", "nan"), (".NaN", ".nan", "nan"), (".NAN", ".nan", "nan"),
    (".inf", ".inf", "inf"), (".Inf", ".inf", "inf"), ("+.INF", ".inf", "inf"),
    ("-.inf", "-.inf", "-inf"), ("-.Inf", "-.inf", "-inf"),
])
def test_every_spelling_in_args_is_refused_at_its_place(
        tmp_path: Path, spelling: str, shown: str, text: str) -> None:
    (tmp_path / "job.yml").write_text(
        f"version: 1\ntasks:\n  - {{name: f, call: math:isnan, args: [{spelling}]}}\n")
    expected = (f'job.yml:3:40: tasks[0].args[0]: {shown} {HINT} ("{text}") and convert it '
                "in the task")
    for command in (["validate", "job.yml"], ["run", "job.yml", "--dry-run", "--json"],
                    ["run", "job.yml", "--no-journal"]):
        done = _runner(*command, cwd=tmp_path)
        assert done.returncode == 2, command
        assert (done.stdout + done.stderr).splitlines() == [expected], command


def test_every_problem_of_the_file_is_reported_together(tmp_path: Path) -> None:
    (tmp_path / "job.yml").write_text(
        "version: 1\n"
        "workers: true\n"
        "tasks:\n"
        "  - name: f\n"
        "    call: m:f\n"
        "    args: [1.5, [2, {a: .nan}]]\n"
        "    kwargs: {x: {y: [-.inf]}, z: 3}\n"
        "  - name: 'g{{ x }}'\n"
        "    command: [echo, '{{ x }}']\n"
        "    foreach: {x: [1.5, .inf]}\n")
    done = _runner("validate", "job.yml", cwd=tmp_path)
    assert done.returncode == 2
    assert [line.split(" ", 2)[:2] for line in done.stdout.splitlines()] == [
        ["job.yml:2:10:", "workers:"],
        ["job.yml:6:25:", "tasks[0].args[1][1].a:"],
        ["job.yml:7:22:", "tasks[0].kwargs.x.y[0]:"],
        ["job.yml:10:24:", "tasks[1].foreach.x[1]:"],
    ]
    assert done.stdout.count(HINT) == 3


def test_a_float_past_the_largest_through_set_is_refused_without_suggesting_inf(
        tmp_path: Path) -> None:
    """`--set` reaches no task's data (its keys are names, and tasks are a list), so what
    it can give is a number no field takes, and the hint no longer offers `.inf`."""
    (tmp_path / "job.yml").write_text("version: 1\ntasks:\n  - {name: a, command: ls}\n")
    done = _runner("run", "job.yml", "--dry-run", "--set", "shutdown.grace=1e400",
                   "--set", "defaults.timeout=.inf", cwd=tmp_path)
    assert done.returncode == 2
    grace, timeout = sorted(done.stderr.splitlines(), reverse=True)
    assert grace == ('--set shutdown.grace=1e400: shutdown.grace: "1e400" is beyond the '
                     "largest number a float holds (about 1.8e308)")
    assert timeout.startswith("--set defaults.timeout=.inf: defaults.timeout: expected a "
                              "duration greater than 0")
    assert ".inf if" not in done.stderr


def test_finite_floats_still_run_and_are_journalled_as_strict_json(
        job_runner: JobRunner) -> None:
    job = job_runner.write(
        "version: 1\nname: floats\ntasks:\n"
        "  - {name: f, call: math:fsum, args: [[0.1, -2.5e-3, 1.0e300]]}\n"
        "  - name: g\n    command: [echo, '{{ x }}']\n"
        "    foreach: {x: [1.5, -0.0, 1.7e308]}\n")
    dry = _runner("run", str(job), "--dry-run", "--json", cwd=job_runner.folder)
    assert dry.returncode == 0
    planned = [_strict(line) for line in dry.stdout.splitlines()]
    assert next(task["args"] for task in planned if isinstance(task, dict)) == [
        [0.1, -2.5e-3, 1.0e300]]
    done = job_runner.run(job, "--quiet")
    assert done.returncode == 0, done.stderr
    lines = (job_runner.folder / "journal.jsonl").read_text().splitlines()
    records = [_strict(line) for line in lines]
    finished = {r["task"]: r for r in records
                if isinstance(r, dict) and r["event"] == "task_finished"}
    assert finished["f"]["result"] == 1.0e300
    assert [finished[f"g[x={x}]"]["values"] for x in ("1.5", "-0.0", "1.7e+308")] == [
        {"x": 1.5}, {"x": -0.0}, {"x": 1.7e308}]
    assert finished["g[x=1.7e+308]"]["stdout"] == "1.7e+308\n"
