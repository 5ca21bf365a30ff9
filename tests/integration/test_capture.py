"""A callable's output is its worker's descriptors 1 and 2: kept through a timeout or a
crash, whatever writes it (print, os.write, a subprocess), never in the runner's own
output, and no capture file outlives the run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MARKER, RUNNER, START_METHODS, read_journal, wait_until_gone

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("marker")]

TASKS = '''
import os, subprocess, sys, time

def print_then_hang():
    print("before the timeout", flush=True)
    time.sleep(60)

def print_then_exit():
    print("before the crash", flush=True)
    os.write(2, b"stderr before the crash\\n")
    os._exit(3)

def below_sys_stdout(megabytes):
    os.write(1, b"from os.write\\n")
    subprocess.run(["echo", "from a subprocess"], check=True)
    subprocess.run(["sh", "-c", "echo from a subprocess to stderr >&2"], check=True)
    chunk = b"y" * 1023 + b"\\n"
    for _ in range(megabytes * 1024):
        os.write(1, chunk)
    print("last line", flush=True)
    return 7
'''

BIG_MB = 3
LINE = 1024  # the bytes of one line the big task writes
SEQ = 100_000


def _job(folder: Path, executor: str, start_method: str) -> Path:
    (folder / "talkers.py").write_text(TASKS)
    job = folder / "job.yml"
    job.write_text(textwrap.dedent(f"""
        version: 1
        name: capture
        executor: {executor}
        start_method: {start_method}
        workers: 2
        shutdown: {{grace: 1s}}
        tasks:
          - name: hang
            call: talkers:print_then_hang
            timeout: 1s
          - name: crash
            call: talkers:print_then_exit
          - name: loud
            call: talkers:below_sys_stdout
            args: [{BIG_MB}]
          - name: command
            command: ["seq", "1", "{SEQ}"]
    """))
    return job


@pytest.fixture(autouse=True)
def _short_temp_folders() -> Iterator[None]:
    """Removes the temp folders `_env` made, once the test has looked into them."""
    yield
    for temp in _TEMP_FOLDERS:
        shutil.rmtree(temp, ignore_errors=True)
    _TEMP_FOLDERS.clear()


_TEMP_FOLDERS: list[str] = []


def _env(folder: Path, marker: str) -> dict[str, str]:
    """The runner's temp folder is the test's own, to see every capture file it makes.
    It lives directly under /tmp (`folder / "tmp"` links to it): the fork server's socket
    is made in the temp folder, and a socket's path must fit in 107 bytes."""
    link = folder / "tmp"
    if not link.exists():
        _TEMP_FOLDERS.append(tempfile.mkdtemp(prefix="capture-", dir="/tmp"))
        link.symlink_to(_TEMP_FOLDERS[-1])
    return {**os.environ, MARKER: marker, "TMPDIR": str(link.resolve()),
            "RUNNER_STATE_DIR": str(folder / "state")}


def _run(folder: Path, marker: str, job: Path) -> tuple[subprocess.CompletedProcess[str],
                                                        dict[str, dict[str, Any]]]:
    done = subprocess.run([RUNNER, "run", str(job), "--json", "--journal",
                           str(folder / "journal.jsonl")], cwd=folder, env=_env(folder, marker),
                          capture_output=True, text=True, timeout=80)
    final = {e["name"]: e for e in read_journal(folder / "journal.jsonl")
             if e["event"] == "task_finished" and e["final"]}
    return done, final


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("executor", ["process", "pool", "mp-pool"])
def test_output_survives_timeout_and_crash_and_never_reaches_the_runners_stdout(
        executor: str, start_method: str, tmp_path: Path, marker: str) -> None:
    done, final = _run(tmp_path, marker, _job(tmp_path, executor, start_method))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(json.loads(line) for line in lines), done.stdout[:2000]
    assert len(done.stdout) < BIG_MB * 1024 * LINE // 10  # only tails, inside JSON
    assert "y" * 100 not in done.stderr and "from a subprocess" not in done.stderr

    assert final["hang"]["status"] == "timeout"
    assert final["hang"]["stdout"] == "before the timeout\n"
    assert final["crash"]["status"] == "crashed"
    assert final["crash"]["stdout"] == "before the crash\n"
    assert final["crash"]["stderr"] == "stderr before the crash\n"

    loud = final["loud"]
    assert loud["status"] == "ok" and loud["result"] == 7
    assert loud["stderr"] == "from a subprocess to stderr\n"
    total = len("from os.write\nfrom a subprocess\n") + BIG_MB * 1024 * LINE + len("last line\n")
    rest = loud["stdout"].split("\n", 1)[1]
    assert _cut(loud["stdout"]) + len(rest.encode()) == total
    assert rest.endswith("y\nlast line\n") and rest.startswith("y")
    assert len(loud["stdout"]) <= 8192

    kept = [int(n) for n in final["command"]["stdout"].splitlines()[1:]]
    assert kept == list(range(kept[0], SEQ + 1))  # whole lines, the last ones
    assert _cut(final["command"]["stdout"]) == sum(len(f"{n}\n") for n in range(1, kept[0]))

    assert list((tmp_path / "tmp").iterdir()) == []


def _cut(tail: str) -> int:
    """The byte count a cut tail's first line says was left out."""
    first = tail.split("\n", 1)[0]
    return int(first.removeprefix("[... ").removesuffix(" bytes cut ...]").replace(",", ""))


HANGER = '''
import os, time

def print_and_hang(ready):
    print("printed", flush=True)
    open(os.path.join(ready, str(os.getpid())), "w").close()
    time.sleep(60)
'''


@pytest.mark.parametrize("executor", ["process", "pool", "mp-pool"])
def test_a_sigkilled_runner_leaves_no_capture_file(executor: str, tmp_path: Path,
                                                   marker: str) -> None:
    ready = tmp_path / "ready"
    ready.mkdir()
    (tmp_path / "hanger.py").write_text(HANGER)
    job = tmp_path / "job.yml"
    job.write_text(textwrap.dedent(f"""
        version: 1
        name: killed
        executor: {executor}
        workers: 2
        shutdown: {{grace: 1s}}
        tasks:
          - name: hang
            call: hanger:print_and_hang
            args: [{json.dumps(str(ready))}]
            foreach: {{i: [1, 2]}}
    """))
    runner = subprocess.Popen([RUNNER, "run", str(job), "--quiet", "--journal",
                               str(tmp_path / "journal.jsonl")], cwd=tmp_path,
                              env=_env(tmp_path, marker), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while len(list(ready.iterdir())) < 2:
            assert runner.poll() is None and time.monotonic() < deadline, "tasks never started"
            time.sleep(0.05)
        assert list((tmp_path / "tmp").iterdir()), "the run made no capture folder"
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(5)
        _, left = wait_until_gone(marker, 20)
        assert not left
        deadline = time.monotonic() + 5
        while list((tmp_path / "tmp").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list((tmp_path / "tmp").iterdir()) == []
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(5)
