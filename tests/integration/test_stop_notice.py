"""The moment a run starts stopping it says so, and the summary says why it stopped.

Ctrl-C while 4-second tasks run must not leave the screen unchanged for 4 seconds (a
person presses it again and kills everything): the console, the progress bar and, with
`--json`, stderr say at once what happens to the running and the queued tasks."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import RUNNER, JobRunner
from tests.integration.test_progress import ESCAPES
from tests.integration.test_stops import _wait_for_started

pytestmark = pytest.mark.timeout(90)

JOB = """
version: 1
workers: 2
shutdown: {{wait: {wait}, grace: 2s}}
tasks:
  - name: "t-{{{{ i }}}}"
    {what}
    foreach: {{i: {{range: [0, 6]}}}}
"""
CALL = 'call: faults:nap\n    args: [4]'
COMMAND = 'command: "sleep 4"'
SOON = 3.0
"""How soon after the signal the message must show (it takes ~0.05 s; the machine is noisy)."""


def _read(fd: int, process: subprocess.Popen[bytes], until: re.Pattern[str],
          timeout: float, text: bytearray) -> float | None:
    """Read `fd` into `text` until `until` matches it (then the time it did) or the
    process ends or `timeout` passes (then None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until.search(ESCAPES.sub("", text.decode("utf-8", "replace"))):
            return time.monotonic()
        if select.select([fd], [], [], 0.05)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                return None
            if not chunk:
                return None
            text += chunk
        elif process.poll() is not None:
            return None
    return None


def _interrupt(runner: JobRunner, fd: int, process: subprocess.Popen[bytes],
               journal: Path, ctrl_c: bool = False) -> tuple[float, bytearray]:
    """SIGINT once two tasks run (a Ctrl-C typed on the terminal `fd`, or a signal to the
    runner alone); how long the stop message took, and all output after."""
    _wait_for_started(journal, 2)
    text = bytearray()
    sent = time.monotonic()
    if ctrl_c:
        os.write(fd, b"\x03")
    else:
        process.send_signal(signal.SIGINT)
    seen = _read(fd, process, re.compile(r"stopping \(SIGINT\)"), 20, text)
    assert seen is not None, text.decode("utf-8", "replace")
    _read(fd, process, re.compile(r"exit code \d+"), 30, text)
    return seen - sent, text


def _own_terminal() -> None:
    """In the child: a session whose controlling terminal is the pty on stdin, so a
    Ctrl-C typed there is SIGINT to its foreground process group, as in a shell."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_ctrl_c_on_a_terminal_says_at_once_what_happens_next(job_runner: JobRunner) -> None:
    job = job_runner.write(JOB.format(wait="true", what=CALL))
    journal = job_runner.folder / "j.jsonl"
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    env = {**job_runner.env(), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen([RUNNER, "run", str(job), "--journal", str(journal)],
                               cwd=job_runner.folder, env=env, stdin=child, stdout=child,
                               stderr=child, preexec_fn=_own_terminal)
    os.close(child)
    try:
        took, raw = _interrupt(job_runner, main, process, journal, ctrl_c=True)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        os.close(main)
    text = ESCAPES.sub("", raw.decode("utf-8", "replace"))
    assert took < SOON, text
    notice = ("stopping (SIGINT): waiting for 2 running tasks, cancelling 4 queued tasks; "
              "Ctrl-C again to stop them now")
    assert notice in text
    assert "job (stopping: SIGINT)" in text, "the bar does not say it is stopping"
    assert text.index(notice) < text.index("✓ ok"), "the notice came after the tasks ended"
    assert "6 task(s): 2 ok, 4 cancelled" in text and "stopped by SIGINT" in text


def _piped(runner: JobRunner, *args: str, wait: str = "true") -> tuple[float, str, str, int]:
    job = runner.write(JOB.format(wait=wait, what=COMMAND))
    journal = runner.folder / "j.jsonl"
    process = subprocess.Popen([RUNNER, "run", str(job), "--journal", str(journal), *args],
                               cwd=runner.folder, env=runner.env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    watched = process.stderr if "--json" in args else process.stdout
    try:
        took, text = _interrupt(runner, watched.fileno(), process, journal)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=5)
    if watched is process.stderr:
        return took, out.decode(), text.decode() + err.decode(), process.returncode
    return took, text.decode() + out.decode(), err.decode(), process.returncode


def test_a_piped_console_says_it_too(job_runner: JobRunner) -> None:
    took, out, _, code = _piped(job_runner, wait="false")
    assert code == 130 and took < SOON, out
    assert ("■ stopping (SIGINT): stopping 2 running tasks now, cancelling 4 queued tasks\n"
            in out)
    assert "6 task(s): 2 interrupted, 4 cancelled" in out and "stopped by SIGINT" in out


def test_with_json_the_message_goes_to_stderr_and_stdout_stays_json(
        job_runner: JobRunner) -> None:
    took, out, err, code = _piped(job_runner, "--json")
    assert code == 130 and took < SOON, err
    assert "runner: stopping (SIGINT): waiting for 2 running tasks" in err
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert events[-1] == "job_finished" and "stopping" not in out


def test_the_summary_says_max_failures_stopped_the_run(job_runner: JobRunner) -> None:
    job = job_runner.write("""
version: 1
workers: 2
on_failure: stop
max_failures: 1
tasks:
  - {name: broken, call: faults:nap_then_raise, args: [0.5]}
  - {name: "later-{{ i }}", call: faults:nap, args: [2], foreach: {i: {range: [0, 4]}}}
""")
    done = job_runner.run(job)
    assert done.returncode == 1, done.stderr
    cause = "max_failures reached (1 failed), on_failure: stop"
    notice = re.escape(f"■ stopping ({cause}): waiting for ") + r"[12] running tasks?, cancelling"
    assert re.search(notice, done.stdout), done.stdout
    assert f"; stopped by {cause}; exit code 1" in done.stdout


def test_ctrl_c_while_stopping_for_max_failures_is_answered_too(job_runner: JobRunner) -> None:
    # three places: the broken call and two commands run at once (workers caps them all)
    job = job_runner.write("""
version: 1
workers: 3
on_failure: stop
max_failures: 1
tasks:
  - {name: broken, call: faults:nap_then_raise, args: [0.2]}
  - {name: "long-{{ i }}", command: "sleep 4", foreach: {i: {range: [0, 3]}}}
""")
    journal = job_runner.folder / "j.jsonl"
    process = subprocess.Popen([RUNNER, "run", str(job), "--journal", str(journal)],
                               cwd=job_runner.folder, env=job_runner.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    text = bytearray()
    try:
        first = re.compile(r"stopping \(max_failures reached")
        assert _read(process.stdout.fileno(), process, first, 20, text), text.decode()
        took, rest = _interrupt(job_runner, process.stdout.fileno(), process, journal)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=5)
    stdout = text.decode() + rest.decode() + out.decode()
    assert process.returncode == 130 and took < SOON, stdout
    assert "■ stopping (SIGINT): waiting for 2 running tasks; Ctrl-C again" in stdout
    assert ("stopped by max_failures reached (1 failed), on_failure: stop, then SIGINT; "
            "exit code 130") in stdout
