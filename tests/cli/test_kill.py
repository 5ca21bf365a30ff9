"""`runner kill` touches only runs: refusals before any signal, stops through the runner,
stragglers of a dead runner, and a state folder that cannot be turned against its user.

Every process a test starts carries the test's marker and every runner gets the test's
own state folder, so nothing leaks and the user's state folder is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil
import pytest

from runner.system.procs import RUN_MARKER_ENV
from runner.system.registry import RUN_ID, RunRecord, new_run_id
from tests.cli.test_ps_kill import cli, ps_json
from tests.conftest import RUNNER, START_METHODS, read_journal, wait_until_gone

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("marker")]

SIX = """
version: 1
name: six
workers: 2
shutdown: {{grace: 60s}}
tasks:
  - name: "t{{{{ i }}}}"
    foreach: {{i: [1, 2, 3, 4, 5, 6]}}
    command: {command}
"""
ECHO_SLEEP = '"echo start; sleep 4; echo end"'
DEAF = '"trap \\"\\" TERM; echo start; sleep 30; echo end"'


def unused_pid() -> int:
    return next(pid for pid in range(4_000_000, 4_100_000) if not psutil.pid_exists(pid))


@pytest.fixture
def harmless(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A `sleep` of this test's own, carrying its marker; it must survive every refusal."""
    process = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    yield process
    process.kill()
    process.wait(10)


def alive(process: subprocess.Popen[Any]) -> bool:
    return process.poll() is None


class Started:
    """A `runner run` in the background, with its journal and run id once it has tasks."""

    def __init__(self, tmp_path: Path, env: dict[str, str], job_text: str) -> None:
        job = tmp_path / "job.yml"
        job.write_text(job_text)
        self.journal = tmp_path / "journal.jsonl"
        self.process = subprocess.Popen(
            [RUNNER, "run", str(job), "--journal", str(self.journal)], env=env, cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.run_id = ""

    def wait_running(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert alive(self.process), self.process.communicate()
            events = read_complete(self.journal)
            if sum(e["event"] == "task_started" for e in events) >= count:
                self.run_id = events[0]["run"]
                return events
            time.sleep(0.05)
        pytest.fail("the run never started its tasks")

    def finish(self) -> tuple[int, list[dict[str, Any]]]:
        try:
            self.process.communicate(timeout=60)
        finally:
            if alive(self.process):
                self.process.kill()
                self.process.communicate()
        return self.process.returncode, read_journal(self.journal)


def read_complete(journal: Path) -> list[dict[str, Any]]:
    """The journal's whole lines so far (the last may be half written)."""
    if not journal.exists():
        return []
    text = journal.read_text()
    return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines() if line]


def finals(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Name -> final record of each task that was handed out and not cancelled."""
    return {e["name"]: e for e in events if e["event"] == "task_finished" and e["final"]
            and e["status"] != "cancelled"}


def wait_for_processes(env: dict[str, str], name: str, count: int) -> None:
    """Until `runner ps` shows `count` processes called `name` in the run."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = [row for run in ps_json(env) for row in run["processes"]]
        if sum(row["name"] == name for row in rows) >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"the run never had {count} {name} processes")


# -- refusals: nothing is signalled -------------------------------------------------


def test_an_unrelated_process_is_refused_and_left_alive(
        env: dict[str, str], harmless: subprocess.Popen[bytes]) -> None:
    done = cli(env, "kill", str(harmless.pid), "--grace", "1s")
    assert done.returncode == 2
    assert f"PID {harmless.pid} (sleep) belongs to no run" in done.stderr
    with pytest.raises(subprocess.TimeoutExpired):  # nothing was sent to it, late or not
        harmless.wait(0.3)


def test_the_caller_and_its_ancestors_are_refused(env: dict[str, str]) -> None:
    script = (f'{RUNNER} kill $$; echo "parent $?"; '
              f'sh -c \'{RUNNER} kill $PPID; echo "grandparent $?"\'; exec {RUNNER} kill $$')
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                          timeout=60)
    assert "parent 2" in done.stdout and "grandparent 2" in done.stdout, done.stderr
    assert done.returncode == 2
    assert done.stderr.count("is an ancestor of this `runner kill`") == 2
    assert "is this `runner kill` itself" in done.stderr


def test_pid_1_is_refused_inside_a_pid_namespace(env: dict[str, str]) -> None:
    """PID 1 here is a shell of the test's own in a namespace of its own: even a
    `runner kill` that signalled it would reach nothing outside."""
    unshare = ["unshare", "--pid", "--fork", "--mount-proc"]
    if shutil.which("unshare") is None or subprocess.run(
            [*unshare, "true"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("unshare --pid --fork --mount-proc is not allowed here")
    script = (f"sleep 60 & {RUNNER} kill 1 --grace 1s; code=$?; "
              'kill -0 $! && echo "sleep alive"; kill $!; echo "code $code"')
    done = subprocess.run([*unshare, "sh", "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    assert "code 2" in done.stdout and "sleep alive" in done.stdout, done.stdout + done.stderr
    assert "PID 1 is the system's init" in done.stderr


@pytest.mark.parametrize("target", ["١", "²", "+5", " 5", "5 ", "0", "1" * 5000, "٣٤"])
def test_only_ascii_decimal_pids_are_pids(env: dict[str, str], target: str) -> None:
    done = cli(env, "kill", target)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.startswith("runner kill: ")


def test_run_ids_are_hex_and_never_all_digits() -> None:
    ids = [new_run_id() for _ in range(5000)]  # about 18 would be all digits by chance
    assert all(RUN_ID.fullmatch(i) and not i.isdigit() for i in ids)


# -- a live run: stopped through its runner ----------------------------------------


def test_kill_run_applies_the_shutdown_policy(tmp_path: Path, env: dict[str, str]) -> None:
    """The issue's scenario: 6 tasks of 4 s on 2 workers, `runner kill RUN` mid-run."""
    run = Started(tmp_path, env, SIX.format(command=ECHO_SLEEP))
    run.wait_running(2)
    killed = cli(env, "kill", run.run_id)
    assert killed.returncode == 0, killed.stderr
    assert f"run {run.run_id} ended" in killed.stdout
    code, events = run.finish()
    assert code == 143
    assert sum(e["event"] == "task_started" for e in events) == 2, "a task started after"
    ended = finals(events)
    assert len(ended) == 2 and all(e["status"] == "ok" for e in ended.values())
    assert all("end" in e["stdout"] for e in ended.values()), "an ok task was cut short"
    assert events[-1]["counts"]["cancelled"] == 4


@pytest.mark.parametrize("start_method", START_METHODS)
def test_kill_now_kills_the_running_tasks_at_once(
        tmp_path: Path, env: dict[str, str], start_method: str, marker: str) -> None:
    (tmp_path / "naps.py").write_text("import time\n\ndef nap():\n    time.sleep(30)\n")
    job = SIX.format(command=ECHO_SLEEP).replace(
        "    command: " + ECHO_SLEEP, "    call: naps:nap").replace(
        "workers: 2", f"workers: 2\nexecutor: pool\nstart_method: {start_method}")
    run = Started(tmp_path, env, job)
    run.wait_running(2)
    killed = cli(env, "kill", run.run_id, "--now")
    assert killed.returncode == 0, killed.stderr
    code, events = run.finish()
    assert code == 143
    ended = finals(events)
    assert len(ended) == 2
    assert {e["status"] for e in ended.values()} == {"interrupted"}
    assert all("SIGKILL" in e["error"]["message"] for e in ended.values())
    assert not wait_until_gone(marker, 10.0)[1]


def test_kill_grace_stops_tasks_now_and_sigkills_after_grace(
        tmp_path: Path, env: dict[str, str]) -> None:
    """The tasks ignore SIGTERM and the job's own grace is 60 s: only `--grace 1s`
    can end them before their 30 s sleep does."""
    run = Started(tmp_path, env, SIX.format(command=DEAF))
    run.wait_running(2)
    wait_for_processes(env, "sleep", 2)  # the traps are set
    began = time.monotonic()
    killed = cli(env, "kill", run.run_id, "--grace", "1s")
    assert killed.returncode == 0, killed.stderr
    code, events = run.finish()
    assert code == 143 and time.monotonic() - began < 25
    ended = finals(events)
    assert {e["status"] for e in ended.values()} == {"interrupted"} and len(ended) == 2
    assert [e["exit_code"] for e in ended.values()] == [-signal.SIGKILL] * 2, ended


def test_a_dead_runners_stragglers_are_killed_by_run_or_pid(
        tmp_path: Path, env: dict[str, str], marker: str) -> None:
    job = SIX.format(command='"sleep 60"')
    run = Started(tmp_path, env, job)
    run.wait_running(2)
    runner = psutil.Process(run.process.pid)
    guardian = next(p for p in runner.children()
                    if "runner.system.guardian" in " ".join(p.cmdline()))
    guardian.suspend()  # so it cannot clean up after the runner: that is `kill`'s job here
    runner.kill()
    guardian.kill()
    run.finish()
    [listed] = ps_json(env)
    stragglers = listed["stragglers"]
    assert listed["alive"] is False and len(stragglers) >= 2
    killed = cli(env, "kill", str(stragglers[-1]["pid"]))
    assert killed.returncode == 0, killed.stderr
    assert killed.stdout.count("killed straggler") == len(stragglers)
    assert not wait_until_gone(marker, 10.0)[1]
    assert ps_json(env) == [] and not list((tmp_path / "state" / "runs").iterdir())


# -- the state folder ---------------------------------------------------------------


def write_record(runs: Path, name: str, **fields: Any) -> Path:
    record = {**asdict(RunRecord(new_run_id(), unused_pid(), 0.0, "job", None, time.time(),
                                 "pool", 2)), **fields}
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / (name or f"{record['run_id']}.json")
    path.write_text(json.dumps(record))
    return path


def test_a_forged_record_does_not_make_a_process_a_runner(
        tmp_path: Path, env: dict[str, str], harmless: subprocess.Popen[bytes]) -> None:
    run_id = new_run_id()
    created = psutil.Process(harmless.pid).create_time()
    write_record(tmp_path / "state" / "runs", "", run_id=run_id, pid=harmless.pid,
                 created=created, journal="/etc/passwd")
    listed = cli(env, "ps", "--json")
    assert json.loads(listed.stdout)["runs"] == []
    assert "does not hold it open" in listed.stderr
    for target in (run_id, str(harmless.pid)):
        assert cli(env, "kill", target, "--grace", "1s").returncode == 2
    with pytest.raises(subprocess.TimeoutExpired):  # nothing was sent to it, late or not
        harmless.wait(0.3)


def test_records_are_validated_before_anything_is_deleted_or_signalled(
        tmp_path: Path, env: dict[str, str], harmless: subprocess.Popen[bytes]) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.json").write_text("keep me")
    runs = tmp_path / "state" / "runs"
    traversing = f"{'../' * 8}{outside.relative_to('/')}/x"
    write_record(runs, "evil.json", run_id=traversing)
    write_record(runs, "0123456789ab.json", run_id="0123456789ab", pid=-5)
    write_record(runs, "abcabcabcabc.json")  # named after another run id than its own
    marked = subprocess.Popen(["sleep", "60"], env={**env, RUN_MARKER_ENV: "abcdefabcdef"})
    try:
        write_record(runs, "abcdefabcdef.json", run_id="abcdefabcdef", journal="j.jsonl")
        for _ in range(2):
            done = cli(env, "ps")
            assert done.returncode == 0 and done.stdout.strip() == "no live runs"
        assert (outside / "x.json").read_text() == "keep me"
        assert done.stderr.count("runner: ignoring") == 4, done.stderr
        assert cli(env, "kill", "abcdefabcdef").returncode == 2
        assert alive(marked) and alive(harmless)
    finally:
        marked.kill()
        marked.wait(10)


def test_a_folder_others_can_write_or_a_file_of_someone_else_is_ignored(
        tmp_path: Path, env: dict[str, str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    runs = tmp_path / "state" / "runs"
    run_id = new_run_id()
    marked = subprocess.Popen(["sleep", "60"], env={**env, RUN_MARKER_ENV: run_id})
    try:
        path = write_record(runs, "", run_id=run_id)
        os.chown(path, 65534, 65534)
        done = cli(env, "kill", run_id)
        assert done.returncode == 2 and "belongs to someone else" in done.stderr
        os.chown(path, 0, 0)
        runs.chmod(0o777)
        done = cli(env, "kill", run_id)
        assert done.returncode == 2 and "can be written by others" in done.stderr
        assert alive(marked) and path.exists()
    finally:
        marked.kill()
        marked.wait(10)


def test_the_state_folder_is_created_for_its_user_alone(
        tmp_path: Path, env: dict[str, str]) -> None:
    job = tmp_path / "quick.yml"
    job.write_text("version: 1\ntasks:\n  - name: hello\n    command: [\"true\"]\n")
    state = tmp_path / "fresh" / "state"
    done = subprocess.run([RUNNER, "run", str(job), "--no-journal"], cwd=tmp_path,
                          env={**env, "RUNNER_STATE_DIR": str(state)}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (state.stat().st_mode & 0o777, (state / "runs").stat().st_mode & 0o777) \
        == (0o700, 0o700)


def test_the_runner_ignores_a_stop_request_it_cannot_trust(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.system import registry

    monkeypatch.setenv("RUNNER_STATE_DIR", str(tmp_path))
    run_id = new_run_id()
    registry.make_runs_dir()
    stop = tmp_path / "runs" / f"{run_id}.stop"
    for text in ('{"now": 1, "grace": null}', '{"now": false, "grace": -1}',
                 '{"now": false, "grace": 1e999}', "[]", "not json"):
        stop.write_text(text)
        assert registry.take_stop_request(run_id) is None
    stop.unlink(missing_ok=True)
    (tmp_path / "target").write_text('{"now": true, "grace": null}')
    stop.symlink_to(tmp_path / "target")
    assert registry.take_stop_request(run_id) is None
    stop.unlink()
    registry.request_stop(run_id, registry.StopRequest(grace=2.5))
    assert stop.stat().st_mode & 0o777 == 0o600
    assert registry.take_stop_request(run_id) == registry.StopRequest(False, 2.5)
    assert not stop.exists()
