"""`logs:` keeps each attempt's whole stdout and stderr, and `runner logs` prints them:
real runs of callables (pool, mp-pool, process under each start method) and commands."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from runner.system.procs import RUN_MARKER_ENV
from tests.conftest import RUNNER, START_METHODS, Finished, JobRunner
from tests.integration.test_journal import wait_for_lines

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("marker")]

TASKS = '''
import os, sys

LINE = b"%07d" + b"z" * 1016 + b"\\n"

def pattern(mib):
    """`mib` MiB of numbered lines: a shift or a lost chunk shows."""
    return b"".join(LINE % i for i in range(mib * 1024))

def talk(mib):
    data = pattern(mib)
    view = memoryview(data)
    while view:
        view = view[os.write(1, view[:1 << 20]):]
    print("to stderr", file=sys.stderr)
    return len(data)

def flaky(counter):
    n = int(open(counter).read()) if os.path.exists(counter) else 0
    open(counter, "w").write(str(n + 1))
    print(f"try {n + 1}")
    print(f"err {n + 1}", file=sys.stderr)
    if n < 2:
        raise SystemExit(1)
    return n

def print_then_hang():
    print("napping", flush=True)
    import time
    time.sleep(60)

def print_then_die():
    print("dying", flush=True)
    os.kill(os.getpid(), 9)

def fail_once(counter):
    n = int(open(counter).read()) if os.path.exists(counter) else 0
    open(counter, "w").write(str(n + 1))
    print(f"run {n + 1}")
    return 1 / n
'''


def _pattern(mib: int) -> bytes:
    return b"".join(b"%07d" % i + b"z" * 1016 + b"\n" for i in range(mib * 1024))


def _job(runner: JobRunner, body: str, *, executor: str = "pool",
         start_method: str = "auto", logs: str = "logs/{{ job }}") -> Path:
    (runner.folder / "talkers.py").write_text(TASKS)
    return runner.write(textwrap.dedent(f"""
        version: 1
        name: lj
        executor: {executor}
        start_method: {start_method}
        workers: 2
        logs: "{logs}"
        tasks:
        """) + textwrap.indent(textwrap.dedent(body), "  "))


def _logs(runner: JobRunner, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([RUNNER, "logs", str(runner.folder / "journal.jsonl"), *args],
                          capture_output=True, timeout=60, env=runner.env(), check=False)


def _paths(done: Finished, task: str) -> tuple[Path, Path]:
    record = done.final()[task]
    return Path(record["stdout_path"]), Path(record["stderr_path"])


def test_a_callable_printing_50_mib_is_kept_byte_for_byte(job_runner: JobRunner) -> None:
    job = _job(job_runner, """
        - name: big
          call: talkers:talk
          args: [50]
        """)
    done = job_runner.run(job, timeout=150)
    assert done.returncode == 0, done.stderr
    out, err = _paths(done, "big")
    run = done.events("job_started")[0]
    assert out == Path(run["logs"]) / "big.1.out"
    assert out.parent == job_runner.folder / "logs" / "lj" / run["run"]
    digest = hashlib.sha256(_pattern(50)).hexdigest()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert err.read_bytes() == b"to stderr\n"
    record = done.final()["big"]
    assert record["stdout"].endswith("z" * 1016 + "\n")  # the tail, read back from the file
    assert record["stderr"] == "to stderr\n"
    shown = _logs(job_runner, "big")
    assert shown.returncode == 0
    assert hashlib.sha256(_pattern(50)).digest() == hashlib.sha256(
        shown.stdout.split(b" --\n", 1)[1].split(b"-- stderr", 1)[0]).digest()


def test_a_command_printing_50_mib_is_kept_byte_for_byte(job_runner: JobRunner) -> None:
    job = _job(job_runner, """
        - name: big
          command: ["python3", "-c", "import talkers; talkers.talk(50)"]
          cwd: .
        - name: apart
          command: "echo out; echo err >&2; echo out2"
        """)
    done = job_runner.run(job, timeout=150)
    assert done.returncode == 0, done.stderr
    out, err = _paths(done, "big")
    assert out.read_bytes() == _pattern(50)
    assert err.read_bytes() == b"to stderr\n"
    out, err = _paths(done, "apart")
    assert (out.read_bytes(), err.read_bytes()) == (b"out\nout2\n", b"err\n")
    assert done.final()["apart"]["stdout"] == "out\nout2\n"


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("executor", ["pool", "mp-pool", "process"])
def test_every_executor_keeps_one_pair_per_attempt(job_runner: JobRunner, executor: str,
                                                   start_method: str) -> None:
    job = _job(job_runner, f"""
        - name: flaky
          call: talkers:flaky
          args: ["{job_runner.folder / 'counter'}"]
          retries: 3
          retry_delay: 0.05s
        - name: "t{{{{ i }}}}"
          call: talkers:talk
          args: [1]
          foreach: {{i: [1, 2]}}
        - name: cmd
          command: "echo from a command; echo to stderr >&2"
        """, executor=executor, start_method=start_method)
    done = job_runner.run(job, "--quiet")  # quiet: a run that could send spans
    assert done.returncode == 0, done.stderr
    finished = [e for e in done.events("task_finished") if e["task"] == "flaky"]
    assert [e["attempt"] for e in finished] == [1, 2, 3]
    for record in finished:
        n = record["attempt"]
        assert Path(record["stdout_path"]).read_text() == f"try {n}\n"
        assert Path(record["stderr_path"]).read_text() == f"err {n}\n"
        assert record["stdout"] == f"try {n}\n"
    folder = Path(done.events("job_started")[0]["logs"])
    names = sorted(p.name for p in folder.iterdir())
    assert [n for n in names if n.startswith("flaky")] == [
        f"flaky.{n}.{s}" for n in (1, 2, 3) for s in ("err", "out")]
    assert len(names) == 6 + 4 + 2
    for task in ("t{{ i }}[i=1]", "t{{ i }}[i=2]"):
        out, err = _paths(done, task)
        assert out.read_bytes() == _pattern(1)
        assert err.read_bytes() == b"to stderr\n"
    out, err = _paths(done, "cmd")
    assert (out.read_text(), err.read_text()) == ("from a command\n", "to stderr\n")


def test_attempts_continue_across_resume_and_runner_logs_finds_them(
        job_runner: JobRunner) -> None:
    job = _job(job_runner, f"""
        - name: "once{{{{ i }}}}"
          call: talkers:fail_once
          args: ["{job_runner.folder / 'counter'}"]
          foreach: {{i: [7]}}
        """)
    first = job_runner.run(job)
    assert first.returncode == 1
    second = job_runner.run(job, "--resume", str(job_runner.folder / "journal.jsonl"))
    assert second.returncode == 0, second.stderr
    records = second.events("task_finished")
    assert [r["attempt"] for r in records] == [1, 2]
    runs = [e["logs"] for e in second.events("job_started")]
    assert [Path(r["stdout_path"]).parent for r in records] == [Path(r) for r in runs]
    assert [Path(r["stdout_path"]).read_text() for r in records] == ["run 1\n", "run 2\n"]
    assert Path(records[1]["stdout_path"]).name.endswith(".2.out")

    by_name = _logs(job_runner, "once7")
    by_id = _logs(job_runner, "once{{ i }}[i=7]")
    assert by_name.returncode == by_id.returncode == 0
    assert by_name.stdout == by_id.stdout
    head, rest = by_name.stdout.decode().split("\n", 1)
    assert "attempt 2" in head and "ok" in head and f"pid {records[1]['pid']}" in head
    assert "-- stdout (whole file" in rest and "run 2\n" in rest
    first_attempt = _logs(job_runner, "once7", "--attempt", "1").stdout.decode()
    assert "attempt 1" in first_attempt and "failed" in first_attempt
    assert "run 1\n" in first_attempt and "ZeroDivisionError" in first_attempt
    missing = _logs(job_runner, "once7", "--attempt", "5")
    assert missing.returncode == 2 and b"attempts: 1, 2" in missing.stderr
    for odd in ("0", "-1", "9" * 40, "١"):  # no such attempt, or not a number: one line
        refused = _logs(job_runner, "once7", "--attempt", odd)
        assert refused.returncode == 2 and b"Traceback" not in refused.stderr, odd
    unknown = _logs(job_runner, "onse7")
    assert unknown.returncode == 2
    assert unknown.stderr.decode().count("\n") == 1
    assert "did you mean 'once7'" in unknown.stderr.decode()


def test_a_quiet_run_of_many_calls_keeps_every_attempt(job_runner: JobRunner) -> None:
    """A quiet run of one entry's many calls is one that would send spans."""
    job = _job(job_runner, """
        - name: "t{{ i }}"
          call: talkers:flaky
          args: ["counter-{{ i }}"]
          foreach: {i: {range: [0, 40]}}
        """)
    done = job_runner.run(job, "--quiet")
    assert done.returncode == 1, done.stderr
    records = done.final()
    assert len(records) == 40
    for record in records.values():
        assert Path(record["stdout_path"]).read_text() == "try 1\n"


@pytest.mark.parametrize("start_method", START_METHODS)
def test_a_timed_out_or_killed_attempt_keeps_what_it_wrote(job_runner: JobRunner,
                                                          start_method: str) -> None:
    job = _job(job_runner, """
        - name: hang
          call: talkers:print_then_hang
          timeout: 1s
        - name: killed
          call: talkers:print_then_die
        """, start_method=start_method)
    done = job_runner.run(job)
    assert done.returncode == 1, done.stderr
    records = done.final()
    assert records["hang"]["status"] == "timeout"
    assert records["killed"]["status"] == "crashed"
    for task, said in (("hang", "napping\n"), ("killed", "dying\n")):
        assert records[task]["stdout"] == said
        assert Path(records[task]["stdout_path"]).read_text() == said


def test_without_logs_runner_logs_prints_the_tails(job_runner: JobRunner) -> None:
    job = job_runner.write(textwrap.dedent("""
        version: 1
        name: tails
        tasks:
          - name: say
            command: "echo hi; echo there >&2"
        """))
    done = job_runner.run(job)
    assert done.returncode == 0
    assert "stdout_path" not in done.final()["say"]
    assert "logs" not in done.events("job_started")[0]
    shown = _logs(job_runner, "say").stdout.decode()
    assert "-- stdout (tail kept in the journal) --\nhi\n" in shown
    assert "-- stderr (tail kept in the journal) --\nthere\n" in shown


def test_runner_logs_reads_only_the_files_the_run_made(job_runner: JobRunner) -> None:
    job = _job(job_runner, """
        - name: say
          command: "echo secret-free"
        """)
    done = job_runner.run(job)
    assert done.returncode == 0
    journal = job_runner.folder / "journal.jsonl"
    out, _ = _paths(done, "say")
    target = job_runner.folder / "elsewhere.txt"
    target.write_text("not a log\n")
    original = journal.read_text()
    journal.write_text(original.replace(str(out), str(target)))
    edited = _logs(job_runner, "say")
    assert edited.returncode == 2
    assert b"refused" in edited.stderr and b"not a log" not in edited.stdout
    journal.write_text(original)
    out.unlink()
    out.symlink_to(target)
    linked = _logs(job_runner, "say")
    assert linked.returncode == 2 and b"symbolic link" in linked.stderr
    assert b"not a log" not in linked.stdout


def test_a_link_planted_in_the_logs_folder_is_refused(job_runner: JobRunner) -> None:
    """The first task plants a link where the second one's stdout file goes (its run's
    folder is named by the run id in its environment): nothing is written through it."""
    target = job_runner.folder / "target"
    logs = job_runner.folder / "logs" / "lj"
    plant = f'ln -s {target} "{logs}/${RUN_MARKER_ENV}/victim.1.out"'
    job = _job(job_runner, f"""
        - name: plant
          command: ["sh", "-c", {json.dumps(plant)}]
        - name: victim
          call: talkers:talk
          args: [1]
        """)
    job.write_text(job.read_text().replace("workers: 2", "workers: 1"))
    done = job_runner.run(job)
    assert done.returncode == 3, done.stderr
    assert "victim.1.out" in done.stderr and "not a regular file" in done.stderr
    assert not target.exists()
    assert "victim" not in done.final()


def test_a_logs_folder_that_cannot_be_made_stops_before_anything_runs(
        job_runner: JobRunner) -> None:
    (job_runner.folder / "plain").write_text("a file, not a folder\n")
    marker = job_runner.folder / "ran"
    job = _job(job_runner, f"""
        - name: touch
          command: ["touch", "{marker}"]
        """, logs="plain/logs")
    done = job_runner.run(job)
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "plain" in lines[0] and "logs folder" in lines[0], done.stderr
    assert not marker.exists()
    assert done.journal == []


@pytest.fixture
def small_disk(tmp_path: Path) -> object:
    """A 1 MiB tmpfs, or a skip where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("kind", ["call", "command"])
def test_a_full_disk_stops_the_run_with_nothing_recorded_ok(
        job_runner: JobRunner, small_disk: Path, kind: str) -> None:
    task = ("call: talkers:talk\n          args: [3]" if kind == "call" else
            'command: ["python3", "-c", "import talkers; talkers.talk(3)"]\n          cwd: .')
    job = _job(job_runner, f"""
        - name: filler
          {task}
        - name: sleeper
          command: ["sleep", "60"]
        """, logs=str(small_disk))
    done = job_runner.run(job)
    assert done.returncode == 3, done.stderr
    assert "full" in done.stderr
    assert "filler" not in done.final()
    assert all(e["status"] != "ok" for e in done.events("task_finished"))


def test_file_names_are_safe_and_never_collide() -> None:
    from runner.journal.logfiles import file_safe

    ids = ["plain-id_1", "a/b", "a\\b", "a_b", "..", ".", ".hidden", "../../etc/passwd",
           "kitty[i=1]", "kitty[i=1 ]", "café", "cafe", "x" * 300, "x" * 301, "日本語",
           "a\x00b", "a\nb", "a b", "a  b"]
    names = [file_safe(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert file_safe("plain-id_1") == "plain-id_1"
    for name in names:
        assert "/" not in name and "\x00" not in name and "\\" not in name
        assert not name.startswith(".") and name.isascii() and len(name.encode()) <= 130
        assert os.path.basename(name) == name


def test_logs_templates_know_only_job(job_runner: JobRunner) -> None:
    job = job_runner.write(textwrap.dedent("""
        version: 1
        tasks:
          - name: a
            command: "true"
        logs: "logs/{{ run }}"
        """))
    checked = subprocess.run([RUNNER, "validate", str(job)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert checked.returncode == 2
    said = checked.stdout + checked.stderr
    assert "logs: unknown template variable {{ run }}" in said


@pytest.mark.parametrize("kind", ["random", "empty", "directory", "fifo", "missing"])
def test_runner_logs_refuses_what_is_not_a_journal(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "not-a-journal"
    if kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    shown = subprocess.run([RUNNER, "logs", str(path), "task"], capture_output=True,
                           text=True, timeout=30, check=False)
    assert shown.returncode == 2
    assert shown.stderr.count("\n") == 1 and str(path) in shown.stderr
    assert "Traceback" not in shown.stderr


@pytest.mark.parametrize("kept", [True, False])
def test_runner_logs_shows_a_running_attempt_so_far(job_runner: JobRunner, kept: bool) -> None:
    """A task still running has a task_started record and, with `logs:`, files the
    attempt is writing: `runner logs` shows them as they are now, and says when nothing
    of it is kept before it ends; once the run is stopped, its record as usual."""
    job = _job(job_runner, """
        - name: slow
          call: talkers:print_then_hang
        """)
    text = job.read_text().replace("tasks:\n", "shutdown: {wait: false}\ntasks:\n")
    job.write_text(text if kept else text.replace('logs: "logs/{{ job }}"\n', ""))
    assert ("logs:" in job.read_text()) is kept
    journal = job_runner.folder / "journal.jsonl"
    began = time.monotonic()
    process = job_runner.start(job)
    try:
        wait_for_lines(journal, '"event":"task_started"')
        if kept:
            out = next((job_runner.folder / "logs" / "lj").glob("*/slow.1.out"))
            wait_for_lines(out, "napping")
        shown = _logs(job_runner, "slow")
        assert shown.returncode == 0, shown.stderr
        text = shown.stdout.decode()
        assert "== slow · attempt 1 · no end recorded (running, or its run died) · pid " in text
        if kept:
            assert f"-- stdout (whole file {out}, so far) --\nnapping\n" in text
        else:
            assert "-- stdout (the run keeps no logs: its tail is journaled when the " \
                   "attempt ends) --" in text
    finally:
        process.send_signal(signal.SIGTERM)
        done = job_runner.finish(process, began)
    assert done.final()["slow"]["status"] == "interrupted"
    ended = _logs(job_runner, "slow").stdout.decode()
    assert "== slow · attempt 1 · interrupted · pid " in ended and "napping\n" in ended


@pytest.mark.parametrize("planted", ["link", "fifo", "folder"])
def test_a_running_attempts_file_that_is_no_regular_file_is_refused(
        job_runner: JobRunner, planted: str) -> None:
    """A journal is data: where a running attempt's stdout file goes, a link to a secret,
    a FIFO nobody writes (reading it would hang) or a folder is refused in one line,
    exit 2, and nothing of it is printed."""
    folder = job_runner.folder / "logs" / "run1"
    folder.mkdir(parents=True)
    secret = job_runner.folder / "secret"
    secret.write_text("hunter2\n")
    out = folder / "slow.1.out"
    if planted == "link":
        out.symlink_to(secret)
    elif planted == "fifo":
        os.mkfifo(out)
    else:
        out.mkdir()
    (job_runner.folder / "journal.jsonl").write_text(
        json.dumps({"event": "job_started", "ts": "2026-12-06T08:00:00+00:00", "job": "lj",
                    "run": "run1", "logs": str(folder)}, separators=(",", ":")) + "\n"
        + json.dumps({"event": "task_started", "ts": "2026-12-06T08:00:01+00:00",
                      "task": "slow", "name": "slow", "index": 0, "values": {}, "attempt": 1,
                      "pid": 4_000_000, "ppid": 1, "process_name": "", "host": "h"},
                     separators=(",", ":")) + "\n")
    shown = _logs(job_runner, "slow")
    assert shown.returncode == 2
    assert b"hunter2" not in shown.stdout + shown.stderr
    assert b"Traceback" not in shown.stderr
    assert shown.stderr.decode().strip().startswith("refused: the log file")
