"""`runner ps` and `runner kill` against real runs, each in its own state directory.

Every process a test starts carries RUNNER_MARKER=<uuid>; the autouse
fixture kills and fails on any that outlives its test.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil
import pytest

from runner.cli.ps import journal_tasks
from runner.system.procs import RUN_MARKER_ENV
from runner.system.registry import RunRecord, new_run_id
from tests.conftest import RUNNER, marked_processes, wait_until_gone

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("marker")]


HANGERS = '''
import subprocess, time

def spawn_and_hang():
    subprocess.Popen(["sleep", "60"])
    time.sleep(60)
'''

JOB = """
version: 1
name: hanging
executor: pool
workers: 2
shutdown: {grace: 1s}
tasks:
  - name: cmd
    command: "sleep 60 & sleep 60"
  - name: spawner
    call: hangers:spawn_and_hang
"""


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNNER, *args], env=env, capture_output=True, text=True, timeout=30)


def ps_json(env: dict[str, str]) -> list[dict[str, Any]]:
    done = cli(env, "ps", "--json")
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, Any]] = json.loads(done.stdout)["runs"]
    return runs


class Run:
    """A `runner run` of JOB in the background, and its view through `runner ps`."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        (tmp_path / "hangers.py").write_text(HANGERS)
        job = tmp_path / "hanging.yml"
        job.write_text(JOB)
        self.journal = tmp_path / "journal.jsonl"
        self.log = tmp_path / "runner.log"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [RUNNER, "run", str(job), "--journal", str(self.journal)], env=env,
                cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        self.env = env

    def wait_started(self) -> dict[str, Any]:
        """Poll `runner ps --json` until both tasks run and have started their children."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            for run in ps_json(self.env):
                tasks = {row["task"]: row for row in run["processes"]}
                if {"cmd", "spawner"} <= tasks.keys() and self._grandchildren(run, tasks):
                    return run
            time.sleep(0.1)
        pytest.fail(f"the run never showed its tasks in `runner ps`:\n{self.log.read_text()}")

    @staticmethod
    def _grandchildren(run: dict[str, Any], tasks: dict[str, Any]) -> bool:
        parents = [row["ppid"] for row in run["processes"] if row["name"] == "sleep"]
        return parents.count(tasks["cmd"]["pid"]) == 2 and tasks["spawner"]["pid"] in parents

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture
def run(tmp_path: Path, env: dict[str, str]) -> Iterator[Run]:
    started = Run(tmp_path, env)
    yield started
    started.end()


def wait_gone(pids: list[int], limit: float = 10.0) -> list[int]:
    deadline = time.monotonic() + limit
    while True:
        living = [pid for pid in pids if _alive(pid)]
        if not living or time.monotonic() > deadline:
            return living
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_ps_lists_a_live_run_with_its_tree_and_tasks(run: Run, env: dict[str, str]) -> None:
    listed = run.wait_started()
    assert listed["alive"] is True and listed["job"] == "hanging"
    assert listed["journal"] == str(run.journal) and listed["pid"] == run.process.pid
    rows = listed["processes"]
    root = rows[0]
    assert (root["pid"], root["depth"], root["task"]) == (run.process.pid, 0, "(runner)")
    by_task = {row["task"]: row for row in rows}
    assert by_task["(guardian)"]["ppid"] == run.process.pid
    assert by_task["cmd"]["name"] == "sh" and by_task["cmd"]["depth"] == 1
    assert all(row["rss"] > 0 and row["status"] for row in rows)

    text = cli(env, "ps")
    assert text.returncode == 0
    assert listed["run_id"] in text.stdout and str(run.journal) in text.stdout
    assert "sh  [cmd]" in text.stdout and "[spawner]" in text.stdout

    killed = cli(env, "kill", listed["run_id"], "--grace", "1s")
    assert killed.returncode == 0, killed.stderr
    assert f"asked run {listed['run_id']} (runner pid {run.process.pid}) to stop" \
        in killed.stdout
    assert run.process.wait(10) == 143


def test_kill_by_run_id_prefix_ends_the_whole_tree(
        run: Run, env: dict[str, str], marker: str, tmp_path: Path) -> None:
    listed = run.wait_started()
    pids = [row["pid"] for row in listed["processes"]]
    run_id = listed["run_id"]  # a prefix of digits alone would be a PID: take one letter in
    prefix = run_id[:max(6, next(i for i, c in enumerate(run_id) if c.isalpha()) + 1)]
    killed = cli(env, "kill", prefix, "--grace", "1s")
    assert killed.returncode == 0, killed.stderr
    assert not wait_gone(pids)
    run.process.wait(10)
    assert not marked_processes(marker)
    assert not list((tmp_path / "state" / "runs").glob("*.json"))
    assert ps_json(env) == []


@pytest.mark.parametrize("whose", ["runner", "grandchild"])
def test_the_pid_of_any_process_of_a_run_stops_the_whole_run(
        run: Run, env: dict[str, str], marker: str, whose: str) -> None:
    listed = run.wait_started()
    shell = next(row for row in listed["processes"] if row["task"] == "cmd")
    pid = run.process.pid if whose == "runner" else next(
        row["pid"] for row in listed["processes"] if row["ppid"] == shell["pid"])
    killed = cli(env, "kill", str(pid), "--grace", "1s")
    assert killed.returncode == 0, killed.stderr
    assert f"asked run {listed['run_id']}" in killed.stdout
    assert run.process.wait(10) == 143
    assert not wait_until_gone(marker, 10.0)[1]


def test_unknown_targets_exit_2_with_a_message(env: dict[str, str]) -> None:
    unused_pid = next(pid for pid in range(4_000_000, 4_100_000) if not psutil.pid_exists(pid))
    for target, says in (("abcdef", "no run 'abcdef'"), (str(unused_pid), "no process"),
                         ("nosuchrun", "neither a PID")):
        done = cli(env, "kill", target)
        assert done.returncode == 2
        assert says in done.stderr and target in done.stderr


def test_an_ambiguous_or_empty_target_kills_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    runs = tmp_path / "state" / "runs"
    runs.mkdir(parents=True)
    for run_id in ("abc111111111", "abc222222222"):
        record = RunRecord(run_id, 1, 0.0, "lost", None, time.time(), "pool", 2)
        (runs / f"{run_id}.json").write_text(json.dumps(asdict(record)))
    done = cli(env, "kill", "abc")
    assert done.returncode == 2 and "matches several runs" in done.stderr
    assert cli(env, "kill", "").returncode == 2


def test_a_normal_run_leaves_no_record(tmp_path: Path, env: dict[str, str]) -> None:
    job = tmp_path / "quick.yml"
    job.write_text("version: 1\ntasks:\n  - name: hello\n    command: [\"true\"]\n")
    done = subprocess.run([RUNNER, "run", str(job), "--no-journal"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = tmp_path / "state" / "runs"
    assert runs.is_dir(), "the run did not register itself"
    assert not list(runs.iterdir())
    assert cli(env, "ps").stdout.strip() == "no live runs"


def test_a_dead_runner_is_forgotten_and_its_stragglers_listed_then_killed(
        tmp_path: Path, env: dict[str, str]) -> None:
    dead_pid = next(pid for pid in range(4_000_000, 4_100_000) if not psutil.pid_exists(pid))
    run_id = new_run_id()
    runs = tmp_path / "state" / "runs"
    runs.mkdir(parents=True)
    record = RunRecord(run_id, dead_pid, 0.0, "lost", None, time.time(), "pool", 2)
    (runs / f"{run_id}.json").write_text(json.dumps(asdict(record)))
    straggler = subprocess.Popen(["sleep", "60"], env={**env, RUN_MARKER_ENV: run_id},
                                 start_new_session=True)
    try:
        [listed] = ps_json(env)
        assert listed["run_id"] == run_id and listed["alive"] is False
        assert [row["pid"] for row in listed["stragglers"]] == [straggler.pid]
        killed = cli(env, "kill", run_id, "--grace", "1s")
        assert killed.returncode == 0, killed.stderr
        assert straggler.wait(10) < 0, "the straggler was killed by a signal"
        assert ps_json(env) == [] and not list(runs.iterdir())
    finally:
        straggler.kill()
        straggler.wait(10)


def test_ps_reads_only_the_tail_of_a_huge_journal(tmp_path: Path) -> None:
    journal = tmp_path / "big.jsonl"

    def line(event: str, task: str, pid: int) -> str:
        return json.dumps({"event": event, "task": task, "name": task, "pid": pid}) + "\n"

    filler = line("task_started", "old", 1) + line("task_finished", "old", 1)
    with journal.open("w") as stream:
        stream.write(filler * (8 * 1024 * 1024 // len(filler)))
        stream.write(line("task_started", "done", 10) + line("task_started", "busy", 11))
        stream.write(line("task_finished", "done", 10) + '{"event": "task_st')
    started = time.perf_counter()
    assert journal_tasks(journal) == {11: "busy"}
    assert time.perf_counter() - started < 0.5
    assert journal_tasks(tmp_path / "missing.jsonl") == {}


def test_registry_records_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_STATE_DIR", str(tmp_path))
    from runner.system import registry

    with registry.register(new_run_id(), "job", "j.jsonl", "pool", 3) as entry:
        assert entry.path is not None and entry.path.exists()
        [record] = registry.records()
        assert record.pid == os.getpid() and record.runner() is not None
        assert record.journal == str(Path("j.jsonl").absolute())
    assert not list((tmp_path / "runs").iterdir())


def test_state_dir_falls_back_to_xdg_then_home(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    from runner.system.registry import state_dir

    monkeypatch.delenv("RUNNER_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert state_dir() == tmp_path / "runner"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert state_dir() == tmp_path / ".local" / "state" / "runner"
