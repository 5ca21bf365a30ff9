"""The journal as a durable record: one writer at a time, no success with records missing,
and the create times `--resume` needs. Real processes; every wait bounded; the `marker`
fixture (through `job_runner`) proves nothing outlives a test."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RUNNER, JobRunner, read_journal

pytestmark = pytest.mark.timeout(120)

SLOW_JOB = """
version: 1
workers: 2
shutdown: {wait: false, grace: 1s}
tasks:
  - name: "slow-{{ i }}"
    call: faults:nap
    args: [30, "{{ i }}"]
    foreach: {i: [1, 2]}
"""

# three places: `workers` caps the two stubborn commands and the filling calls together
FILLING_JOB = """
version: 1
executor: {executor}
workers: 3
shutdown: {{grace: 1s}}
tasks:
  - name: "stubborn-{{{{ i }}}}"
    command: "touch up-{{{{ i }}}}; trap '' TERM; sleep 60"
    foreach: {{i: [1, 2]}}
  - name: "fill-{{{{ i }}}}"
    call: filling:fill
    args: ["{{{{ i }}}}"]
    foreach: {{i: {{range: [0, 5000]}}}}
"""
FILLING = """
import os
import time


def fill(i):
    \"\"\"Wait (bounded) until both commands are up, so the journal fills while they run.\"\"\"
    deadline = time.monotonic() + 20
    while not (os.path.exists("up-1") and os.path.exists("up-2")):
        if time.monotonic() > deadline:
            raise TimeoutError("the commands never started")
        time.sleep(0.01)
    return i
"""


def complete_lines(journal: Path, needle: str) -> int:
    """Whole lines holding `needle`, read while a runner may be writing the file."""
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return 0
    whole = data[: data.rfind(b"\n") + 1]
    return sum(needle.encode() in line for line in whole.splitlines())


def wait_for_lines(journal: Path, needle: str, count: int = 1, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while complete_lines(journal, needle) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {count} journal lines with {needle!r} in {timeout}s")
        time.sleep(0.05)


def finish(process: subprocess.Popen[str], timeout: float = 60.0) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"runner did not end in {timeout}s:\n{out}\n{err}")


def test_a_second_run_on_a_journal_in_use_is_refused_naming_the_first(
        job_runner: JobRunner) -> None:
    job = job_runner.write(SLOW_JOB)
    journal = job_runner.folder / "journal.jsonl"
    first = job_runner.start(job, journal=journal)
    try:
        wait_for_lines(journal, '"task_started"', 2)
        for extra in ([], ["--resume", str(journal)]):
            second = job_runner.run(job, *extra, journal=journal, timeout=30)
            assert second.returncode == 3, second.stderr
            assert f"is in use by another run (pid {first.pid})" in second.stderr
            assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        finish(first)
    assert first.returncode == 143
    assert [e["event"] for e in read_journal(journal)].count("job_started") == 1


def test_the_lock_is_free_once_the_run_ends(job_runner: JobRunner) -> None:
    job = job_runner.write(SLOW_JOB.replace("[30,", "[0.1,"))
    for _ in range(2):
        done = job_runner.run(job)
        assert done.returncode == 0, done.stderr
    assert len(done.events("job_started")) == 2


def _limit_file_size(limit: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("executor", ["pool", "mp-pool", "process"])
def test_a_full_journal_stops_the_run_with_exit_3_and_kills_its_tasks(
        job_runner: JobRunner, executor: str) -> None:
    """The file-size limit stands in for a full disk: write() fails with EFBIG (SIGXFSZ is
    ignored), the run stops at once, its tasks (commands that ignore SIGTERM included)
    are killed, and nothing claims success."""
    job = job_runner.write(FILLING_JOB.format(executor=executor))
    (job_runner.folder / "filling.py").write_text(FILLING)
    journal = job_runner.folder / "journal.jsonl"
    limit = 200_000
    process = subprocess.Popen(
        [RUNNER, "run", str(job), "--journal", str(journal)], cwd=job_runner.folder,
        env=job_runner.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: _limit_file_size(limit))
    started = time.monotonic()
    out, err = finish(process)
    assert process.returncode == 3, err
    assert time.monotonic() - started < 30, "the stop must not wait for the 60 s commands"
    assert f"cannot write the journal {journal}: File too large" in err
    assert "the run is stopped" in err and "Traceback" not in err
    data = journal.read_bytes()
    assert len(data) <= limit
    lines = [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
    assert lines[0]["event"] == "job_started"
    assert all((job_runner.folder / f"up-{i}").exists() for i in (1, 2)), \
        "the commands to kill never started"
    assert not any(e["event"] == "job_finished" for e in lines)
    assert "exit code 0" not in out


def test_pid_created_is_recorded_for_the_runner_and_tasks_seen_running(
        job_runner: JobRunner) -> None:
    job = job_runner.write("""
version: 1
workers: 2
tasks:
  - {name: quick, call: faults:square, args: [3]}
  - {name: slow, call: faults:nap, args: [0.5]}
  - {name: cmd, command: "sleep 0.5"}
""")
    done = job_runner.run(job)
    assert done.returncode == 0, done.stderr
    started = done.events("job_started")[0]
    assert isinstance(started["pid_created"], float) and "resumed" not in started
    seen = {e["task"]: e for e in done.events("task_started")}
    for task in ("slow", "cmd"):
        created = seen[task]["pid_created"]
        assert isinstance(created, float)
        assert started["pid_created"] <= created, "the runner is created before its tasks"



QUICK_JOB = """
version: 1
name: quick
tasks:
  - {name: "t{{ i }}", command: "exit {{ i }}", foreach: {i: [0, 1]}}
"""
OK_JOB = QUICK_JOB.replace("[0, 1]", "[0]")


def _start(job_runner: JobRunner, *args: str) -> subprocess.Popen[str]:
    """`runner run` with exactly these arguments (no --journal added), in the test's folder."""
    return subprocess.Popen([RUNNER, "run", *args], cwd=job_runner.folder, env=job_runner.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _refused(job_runner: JobRunner, code: int, *args: str) -> str:
    """The runner ends (bounded) with `code` and one line on stderr, never a traceback."""
    process = _start(job_runner, *args)
    _, err = finish(process, 30)
    assert process.returncode == code, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def _succeeds(process: subprocess.Popen[str]) -> None:
    _, err = finish(process)
    assert process.returncode == 0 and "Traceback" not in err, err


def test_runs_of_one_job_get_a_journal_each_even_all_at_once(job_runner: JobRunner) -> None:
    """Two in a row within a second, then four started together: six journals, each named
    `<job>-<UTC time>-<run id>.jsonl` and holding its own run alone."""
    job = job_runner.write(OK_JOB)
    for _ in range(2):
        _succeeds(_start(job_runner, str(job), "--quiet"))
    together = [_start(job_runner, str(job), "--quiet") for _ in range(4)]
    for process in together:
        _succeeds(process)
    journals = sorted((job_runner.folder / ".runner" / "runs").iterdir())
    assert len(journals) == 6, journals
    for journal in journals:
        (started,) = [e for e in read_journal(journal) if e["event"] == "job_started"]
        assert re.fullmatch(rf"quick-\d{{8}}T\d{{6}}Z-{started['run']}\.jsonl", journal.name)


def test_a_journal_given_twice_holds_two_runs_told_apart_by_run_id(
        job_runner: JobRunner) -> None:
    """A fresh run appends to an explicit --journal; the report and --resume see both."""
    job = job_runner.write(QUICK_JOB)
    journal = job_runner.folder / "shared.jsonl"
    for _ in range(2):
        assert job_runner.run(job, journal=journal).returncode == 1
    ids = [e["run"] for e in read_journal(journal) if e["event"] == "job_started"]
    assert len(set(ids)) == 2
    report = subprocess.run([RUNNER, "report", str(journal), "--json"], capture_output=True,
                            text=True, timeout=60, env=job_runner.env())
    summary = json.loads(report.stdout)
    assert [r["run"] for r in summary["runs"]] == ids
    assert (summary["tasks"], summary["counts"]["ok"], summary["counts"]["failed"]) == (2, 1, 1)
    resumed = job_runner.run(job, "--resume", str(journal), journal=journal)
    assert f"resuming run {ids[1]} from {journal}: 1 task(s) recorded ok, 1 to run" \
        in resumed.stderr
    assert resumed.events("job_started")[-1]["resumes"] == ids[1]


def test_symlinks_at_the_journal_and_its_lock_are_never_followed(job_runner: JobRunner) -> None:
    job = job_runner.write(OK_JOB)
    folder = job_runner.folder
    for name in ("target", "lock-target"):
        (folder / name).write_text(f"{name} stays as it is\n")
    (folder / "link.jsonl").symlink_to(folder / "target")
    (folder / "dangling.jsonl").symlink_to(folder / "nowhere")
    for link in ("link.jsonl", "dangling.jsonl"):
        for option in ("--journal", "--resume"):
            err = _refused(job_runner, 2, str(job), option, str(folder / link))
            assert f"{folder / link} is a symbolic link" in err
    (folder / "j.jsonl.lock").symlink_to(folder / "lock-target")
    _succeeds(_start(job_runner, str(job), "--journal", str(folder / "j.jsonl")))
    for name in ("target", "lock-target"):
        assert (folder / name).read_text() == f"{name} stays as it is\n"
    assert not (folder / "nowhere").exists()


@pytest.mark.parametrize("kind", ["fifo", "directory", "/dev/null"])
def test_a_journal_that_is_not_a_regular_file_is_refused_without_waiting(
        job_runner: JobRunner, kind: str) -> None:
    """A FIFO with no reader would block `open` for ever; /dev/null would get a
    /dev/null.lock beside it. Both `--journal` and `--resume` refuse (exit 2) at once."""
    job = job_runner.write(OK_JOB)
    path = Path(kind) if kind.startswith("/") else job_runner.folder / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    had_lock = Path("/dev/null.lock").exists()
    for option in ("--journal", "--resume"):
        err = _refused(job_runner, 2, str(job), option, str(path))
        assert f"the journal {path} is a" in err and "must be a regular file" in err
    assert Path("/dev/null.lock").exists() == had_lock
    assert not any(e for e in read_journal(job_runner.folder / "journal.jsonl"))


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts a 64 KiB tmpfs with the given options; skipped where mounting is not allowed
    (not root, or a container without CAP_SYS_ADMIN)."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mount{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=64k,{options}", "tmpfs",
                               str(point)], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): the test needs "
                        "root with CAP_SYS_ADMIN")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=30)


def test_an_unwritable_folder_is_exit_3_in_one_line(job_runner: JobRunner,
                                                     tmpfs: Callable[[str], Path]) -> None:
    """Root ignores mode bits, so a read-only file system stands in for a folder the
    user cannot write."""
    job = job_runner.write(OK_JOB)
    folder = tmpfs("ro")
    err = _refused(job_runner, 3, str(job), "--journal", str(folder / "j.jsonl"))
    assert f"cannot create the journal {folder / 'j.jsonl'}: Read-only file system" in err
    err = _refused(job_runner, 3, str(job), "--journal", str(folder / "runs" / "j.jsonl"))
    assert f"cannot create the folder {folder / 'runs'} for the journal" in err
    assert "Read-only file system" in err


def test_a_journal_where_no_file_can_be_made_is_exit_3(job_runner: JobRunner) -> None:
    """/proc/1 is a folder that exists and takes no new files: the environment refuses,
    as a read-only folder does; the path itself names no wrong kind of file."""
    job = job_runner.write(OK_JOB)
    err = _refused(job_runner, 3, str(job), "--journal", "/proc/1/nope.jsonl")
    assert "cannot create the journal /proc/1/nope.jsonl: " in err


def test_a_full_disk_at_start_is_exit_3_in_one_line_before_any_task(
        job_runner: JobRunner, tmpfs: Callable[[str], Path]) -> None:
    job = job_runner.write(OK_JOB.replace('"exit {{ i }}"', '"touch ran-{{ i }}"'))
    folder = tmpfs("mode=0755")
    filler = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):  # ENOSPC: the disk is full
            while os.write(filler, b"x" * 4096):
                pass
    finally:
        os.close(filler)
    journal = folder / "j.jsonl"
    err = _refused(job_runner, 3, str(job), "--journal", str(journal))
    assert f"cannot write the journal {journal}: No space left on device" in err
    assert not (job_runner.folder / "ran-0").exists(), "a task ran with no journal to record it"
