"""Nothing a run started outlives it, not even after the runner is SIGKILLed.

Every process here carries RUNNER_MARKER=<uuid> (children inherit it),
which finds stragglers independently of the runner's own RUNNER_RUN_ID marker.
The autouse fixture fails a test that leaves one behind, after killing it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest

from runner.system import guardian
from runner.system.procs import RUN_MARKER_ENV, wait_gone
from tests.conftest import RUNNER, marked_processes, wait_until_gone

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("marker")]

CLEANUP_LIMIT = 15.0
START_LIMIT = 20.0

HANGERS = '''
import os, re, subprocess, time
from pathlib import Path

def hold_the_gil(ready):
    Path(ready, f"gil-{os.getpid()}").write_text("")
    re.match(r"(a+)+$", "a" * 64 + "b")  # backtracks for ages without releasing the GIL

def spawn_and_hang(ready):
    child = subprocess.Popen(["sleep", "60"])
    Path(ready, f"spawned-{os.getpid()}").write_text(str(child.pid))
    time.sleep(60)

def fork_and_hang(ready):
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    Path(ready, f"forked-{os.getpid()}").write_text(str(pid))
    time.sleep(60)
'''


def sleeper(env: dict[str, str], **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"], env={**env, **extra}, start_new_session=True)


# -- the guardian on its own -------------------------------------------------------


def test_guardian_kills_marked_trees_and_nothing_else_when_its_runner_dies(
        env: dict[str, str], marker: str) -> None:
    run_id = uuid.uuid4().hex[:12]
    fake_runner = textwrap.dedent(f"""
        import os, subprocess, time
        from runner.system import guardian
        watch = guardian.start({run_id!r}, 1.0)
        stubborn = "trap '' TERM; sleep 60 & sleep 60"  # SIGKILL after the grace, or nothing
        shell = subprocess.Popen(["sh", "-c", stubborn],
                                 env={{**os.environ, "{RUN_MARKER_ENV}": {run_id!r}}})
        print(watch.pid, shell.pid, flush=True)
        time.sleep(60)
    """)
    bystanders = [sleeper(env, **{RUN_MARKER_ENV: "someone-else"}), sleeper(env)]
    runner = subprocess.Popen([sys.executable, "-c", fake_runner], env=env,
                              stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert runner.stdout is not None
        guardian_pid, shell_pid = map(int, runner.stdout.readline().split())
        shell = psutil.Process(shell_pid)
        deadline = time.monotonic() + 5
        while len(shell.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(shell.children()) == 2, "the shell's sleeps never started"
        doomed = [psutil.Process(guardian_pid), shell, *shell.children()]
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(5)
        started = time.monotonic()
        assert not wait_gone(doomed, CLEANUP_LIMIT)
        assert time.monotonic() - started > 0.9, "SIGTERM was ignored: only SIGKILL ends them"
        assert all(b.poll() is None for b in bystanders), "an unrelated process was killed"
    finally:
        for process in [runner, *bystanders]:
            process.kill()
            process.wait(5)


def test_close_says_done_and_kills_nothing(env: dict[str, str]) -> None:
    run_id = uuid.uuid4().hex[:12]
    watch = guardian.start(run_id, 1.0)
    marked = sleeper(env, **{RUN_MARKER_ENV: run_id})
    try:
        wait_until_listening(watch)
        watch.close()
        assert watch.process.wait(5) == 0
        assert marked.poll() is None, "a normal end must not kill the run's processes"
    finally:
        marked.kill()
        marked.wait(5)


def test_guardian_has_its_own_session_ignores_stop_signals_and_carries_no_marker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUN_MARKER_ENV, "outer-run")
    with guardian.start(uuid.uuid4().hex[:12], 1.0) as watch:
        wait_until_listening(watch)
        assert os.getsid(watch.pid) == watch.pid != os.getsid(0)
        assert RUN_MARKER_ENV not in psutil.Process(watch.pid).environ()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            os.kill(watch.pid, signum)
        time.sleep(0.3)
        assert watch.process.poll() is None
    assert watch.process.wait(5) == 0


def test_guardian_holds_nothing_of_the_runner_open() -> None:
    """It must not keep the runner's files open (a journal's lock, the registry record,
    a pipe someone waits on): only its stdin pipe, /dev/null, and what its own
    interpreter opens."""
    kept = open(os.devnull, "rb")  # noqa: SIM115 - held open on purpose
    os.set_inheritable(kept.fileno(), True)
    try:
        with guardian.start(uuid.uuid4().hex[:12], 1.0) as watch:
            wait_until_listening(watch)
            names = {int(fd): os.readlink(f"/proc/{watch.pid}/fd/{fd}")
                     for fd in os.listdir(f"/proc/{watch.pid}/fd")}
            assert guardian.NAME in psutil.Process(watch.pid).cmdline()
        assert kept.fileno() not in names or names[kept.fileno()] != os.devnull
        assert {names[0][:5], names[1], names[2]} == {"pipe:", os.devnull}
        assert watch.process.wait(5) == 0
    finally:
        kept.close()


def wait_until_listening(watch: guardian.Guardian) -> None:
    """Its stdin reader thread starts after its signal dispositions are set."""
    deadline = time.monotonic() + 10
    while psutil.Process(watch.pid).num_threads() < 2:
        assert time.monotonic() < deadline, "the guardian never started listening"
        time.sleep(0.01)


def test_guardian_starts_without_heavy_imports() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "runner.system.guardian", "r",
         str(os.getpid()), "1"],
        input=b"done\n", capture_output=True, timeout=30, check=True)
    imported = {line.split("|")[-1].strip() for line in done.stderr.decode().splitlines()
                if line.startswith("import time:")}
    heavy = {name for name in imported
             if name.split(".")[0] in {"pydantic", "typer", "yaml", "psutil", "rich", "click"}}
    assert not heavy


# -- a real runner, SIGKILLed mid-job ------------------------------------------------


def write_job(folder: Path, ready: Path) -> Path:
    (folder / "hangers.py").write_text(HANGERS)
    job = folder / "orphans.yml"
    job.write_text(textwrap.dedent(f"""
        version: 1
        name: orphans
        workers: 4
        shutdown: {{grace: 2s}}
        tasks:
          - name: shell
            command: "sleep 60 & sleep 60"
          - name: spawner
            call: hangers:spawn_and_hang
            args: [{json.dumps(str(ready))}]
          - name: forker
            call: hangers:fork_and_hang
            args: [{json.dumps(str(ready))}]
          - name: gil-holder
            call: hangers:hold_the_gil
            args: [{json.dumps(str(ready))}]
    """))
    return job


def wait_for_grandchildren(marker: str, ready: Path, runner: subprocess.Popen[bytes],
                           log: Path) -> None:
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        sleeps = [p for p in marked_processes(marker) if _name(p) == "sleep"]
        if len(sleeps) >= 3 and len(list(ready.iterdir())) >= 3:
            return
        assert runner.poll() is None, f"the runner exited early:\n{log.read_text()}"
        time.sleep(0.05)
    pytest.fail(f"the job's grandchildren never all started:\n{log.read_text()}")


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return ""


@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("executor", ["process", "pool", "mp-pool"])
def test_sigkilled_runner_leaves_no_process_behind(
        executor: str, start_method: str, tmp_path: Path, env: dict[str, str],
        marker: str) -> None:
    ready = tmp_path / "ready"
    ready.mkdir()
    job = write_job(tmp_path, ready)
    log = tmp_path / "runner.log"
    with log.open("wb") as output:
        runner = subprocess.Popen(
            [RUNNER, "run", str(job), "--executor", executor, "--set",
             f"start_method={start_method}", "--journal", str(tmp_path / "journal.jsonl")],
            env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_for_grandchildren(marker, ready, runner, log)
        assert any("runner.system.guardian" in " ".join(p.cmdline())
                   for p in marked_processes(marker))
        time.sleep(1.0)  # the GIL holder has been stuck for a second, not a split second
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(5)
        elapsed, left = wait_until_gone(marker, CLEANUP_LIMIT)
        print(f"\ncleanup after SIGKILL, {executor}/{start_method}: {elapsed:.2f}s")
        assert not left, f"survived {CLEANUP_LIMIT}s after the runner: {left}"
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(5)
