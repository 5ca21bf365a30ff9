"""Few file descriptors: the runner raises its soft limit, runs within what the job
needs, or refuses before starting anything (exit 3, one line); it never hangs, and no
process outlives it. A SIGKILL the runner did not send is blamed on the out-of-memory
killer only when the kernel counted one."""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.system import oom
from tests.conftest import RUNNER, JobRunner, read_journal

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(sys.platform != "linux", reason="rlimits as on Linux")]

CALLS = 'call: faults:nap\n    args: [0.2]'
COMMANDS = 'command: "sleep 0.2"'
JOB = """
version: 1
executor: {executor}
start_method: {start_method}
workers: {workers}
tasks:
  - name: "t-{{{{ i }}}}"
    {what}
    foreach: {{i: {{range: [0, {count}]}}}}
"""
SETUPS = {  # the settings that hung or printed tracebacks under `ulimit -n 64`
    "pool-24": ("pool", 24, CALLS),
    "process-12": ("process", 12, CALLS),
    "mp-pool-24": ("mp-pool", 24, CALLS),
    "commands-20": ("pool", 20, COMMANDS),
}


def _limit(soft: int, hard: int | None = None) -> Callable[[], None]:
    def apply() -> None:
        top = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, top if hard is None else hard))
    return apply


def _job(runner: JobRunner, executor: str, workers: int, what: str,
         start_method: str = "auto") -> Path:
    return runner.write(JOB.format(executor=executor, workers=workers, what=what,
                                   count=2 * workers, start_method=start_method))


def _run(runner: JobRunner, argv: list[str], limit: Callable[[], None],
         **env: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=runner.folder, env={**runner.env(), **env},
                              capture_output=True,
                              text=True, timeout=60, preexec_fn=limit)
    except subprocess.TimeoutExpired as exc:  # the child is killed by subprocess.run
        pytest.fail(f"the runner hung under a low descriptor limit: {exc.stderr!r}")


@pytest.mark.parametrize("setup", SETUPS)
def test_under_ulimit_64_it_runs_or_refuses_clearly(job_runner: JobRunner, setup: str) -> None:
    executor, workers, what = SETUPS[setup]
    job = _job(job_runner, executor, workers, what)
    journal = job_runner.folder / "j.jsonl"
    done = _run(job_runner, [RUNNER, "run", str(job), "--journal", str(journal)],
                _limit(64, 64))
    assert "Traceback" not in done.stderr
    if done.returncode == 0:
        return
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    needed, fit = _refusal(done.stderr, workers, executor)
    assert needed > 64
    assert not read_journal(journal), "it started the run before refusing"
    applied = _run(job_runner, [RUNNER, "run", str(job), "--no-journal", "-q",
                                "--workers", str(fit)], _limit(64, 64))
    assert applied.returncode == 0, f"the hint --workers {fit} did not work: {applied.stderr}"


def _refusal(stderr: str, workers: int, executor: str) -> tuple[int, int]:
    """The descriptors a refusal says the job needs, and the workers it says would fit."""
    found = re.fullmatch(
        rf"too few file descriptors: {workers} workers on {executor} need about (\d+), and "
        r"this process may open (\d+) \(ulimit -n; the hard limit is \2, so the runner "
        r"cannot raise it\): (?:run with --workers (\d+) or )?raise the limit \(ulimit -n \1\)\n",
        stderr)
    assert found, stderr
    return int(found[1]), int(found[3] or 0)


def test_with_only_the_soft_limit_low_the_runner_raises_it(job_runner: JobRunner) -> None:
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 200:
        pytest.skip("the hard descriptor limit here is too low to raise the soft one to")
    job = _job(job_runner, "pool", 24, CALLS)
    done = _run(job_runner, [RUNNER, "run", str(job), "--no-journal", "-q"], _limit(64))
    assert done.returncode == 0, done.stderr
    assert "48 task(s): 48 ok" in done.stdout


@pytest.mark.parametrize("executor", ["pool", "mp-pool", "process"])
@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
def test_the_estimate_is_enough_to_run(job_runner: JobRunner, executor: str,
                                       start_method: str) -> None:
    """With exactly the descriptors the runner says it needs, callables and commands
    together on 8 workers all run."""
    job = job_runner.write(JOB.format(
        executor=executor, workers=8, what=CALLS, count=16, start_method=start_method)
        + '  - {name: "c-{{ i }}", command: "sleep 0.2", foreach: {i: {range: [0, 16]}}}\n')
    refused = _run(job_runner, [RUNNER, "run", str(job), "-q"], _limit(20, 20))
    budget, _ = _refusal(refused.stderr, 8, executor)
    done = _run(job_runner, [RUNNER, "run", str(job), "-q"], _limit(budget, budget))
    assert done.returncode == 0, done.stderr
    assert "32 task(s): 32 ok" in done.stdout


PAST_THE_CHECK = """
import sys
from runner.cli import app as cli
from runner.system import fdbudget

fdbudget.ensure = lambda job, workers: None
sys.argv = ["runner", *sys.argv[1:]]
cli.main()
"""


@pytest.mark.parametrize("executor", ["pool", "mp-pool"])
def test_running_out_half_way_ends_cleanly_and_never_hangs(job_runner: JobRunner,
                                                          executor: str) -> None:
    """Past the check (replaced, in the runner's process, by one that lets everything
    through), a pool runs out of descriptors while starting its workers: one line, exit 3,
    every worker gone, within the test's bound, and the run's capture folder removed."""
    job = _job(job_runner, executor, 24, CALLS, start_method="fork")
    temp = Path(tempfile.mkdtemp(prefix="fd-budget-", dir="/tmp"))
    try:
        done = _run(job_runner, [sys.executable, "-c", PAST_THE_CHECK, "run", str(job),
                                 "--no-journal", "-q"], _limit(64, 64), TMPDIR=str(temp))
        assert done.returncode == 3, done.stderr
        assert ("the runner ran out of file descriptors (Too many open files): "
                "lower `workers` or raise the limit (ulimit -n)") in done.stderr.splitlines()
        assert "Traceback" not in done.stderr
        assert list(temp.iterdir()) == [], "the run left its capture folder behind"
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def test_a_sigkill_is_blamed_on_the_oom_killer_only_with_evidence(
        job_runner: JobRunner) -> None:
    job = job_runner.write("""
version: 1
tasks:
  - {name: killed, call: faults:kill_self, args: [SIGKILL]}
  - {name: killed-command, command: "kill -9 $$"}
""")
    before = oom.count()
    done = job_runner.run(job)
    if before is None or oom.count() != before:
        pytest.skip("the kernel does not count OOM kills here, or it killed something now")
    assert done.returncode == 1
    errors = [record["error"]["message"] for record in done.final().values()]
    assert len(errors) == 2
    for message in errors:
        assert "killed by SIGKILL; likely cause: a kill -9 from outside the runner (not the " \
               "out-of-memory killer: the kernel counted no OOM kill during the run)" in message
