"""The progress bar on a real pseudo-terminal, and plain output everywhere else.

A pty (the stdlib's `pty`, no pexpect) makes `sys.stdout.isatty()` true in the runner,
as in a person's terminal; escape sequences are stripped before reading the text.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from tests.conftest import RUNNER, JobRunner, read_journal

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")]

JOB = """
version: 1
workers: 2
tasks:
  - name: "sq-{{ i }}"
    call: faults:nap
    args: [0.2, "{{ i }}"]
    foreach: {i: {range: [1, 11]}}
  - {name: broken, call: faults:raise_error, args: [on purpose]}
"""
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RESULT = re.compile(r"✓ ok +sq-(\d+) +pid \d+ ppid \d+ +\d+\.\d\ds +→ (\d+)$")


def run_on_terminal(runner: JobRunner, *args: str, timeout: float = 45.0,
                    job_text: str = JOB) -> tuple[int, str]:
    """`runner run JOB *args` with a 40x160 pty as stdin, stdout and stderr; its output
    with escape sequences removed, one screen line per list item."""
    job = runner.write(job_text)
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**runner.env(), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [RUNNER, "run", str(job), "--journal", str(runner.folder / "j.jsonl"), *args],
        cwd=runner.folder, env=env, stdin=child, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([main], [], [], 0.2)[0]:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # EIO: every writer of the terminal is gone
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(deadline - time.monotonic(), 1.0))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        os.close(main)
    return code, ESCAPES.sub("", output.decode("utf-8", errors="replace"))


def screen_lines(text: str) -> list[str]:
    """What is left on each line once carriage returns have redrawn it."""
    return [line.split("\r")[-1].rstrip() for line in text.split("\r\n")]


def test_a_terminal_gets_a_live_bar_with_the_task_lines_above_it(
        job_runner: JobRunner) -> None:
    code, text = run_on_terminal(job_runner)
    assert code == 1, text
    lines = screen_lines(text)
    results = {m.group(1): m.group(2) for line in lines if (m := RESULT.search(line))}
    assert results == {str(i): str(i) for i in range(1, 11)}, text
    assert any("✗ failed" in line and "broken" in line for line in lines)
    bars = [n for n, line in enumerate(lines) if "11/11" in line]
    assert bars, text
    final = lines[bars[-1]]
    assert "10 ok" in final and "1 failed" in final and "tasks/s" in final and "eta" in final
    summary = [n for n, line in enumerate(lines) if "11 task(s): 10 ok, 1 failed" in line]
    assert summary and summary[0] > bars[-1], "the summary belongs below the final bar"
    assert "tasks/s" in text.split("11/11")[0], "the bar was not drawn while the job ran"


def test_quiet_on_a_terminal_prints_only_the_summary(job_runner: JobRunner) -> None:
    code, text = run_on_terminal(job_runner, "--quiet")
    assert code == 1
    assert "tasks/s" not in text and "sq-1" not in text
    assert "11 task(s): 10 ok, 1 failed" in text


def test_no_terminal_means_plain_lines(job_runner: JobRunner) -> None:
    done = job_runner.run(job_runner.write(JOB))
    assert done.returncode == 1
    assert "\x1b" not in done.stdout and "tasks/s" not in done.stdout
    assert sum(bool(RESULT.search(line)) for line in done.stdout.splitlines()) == 10


MANY = 3000
MANY_JOB = f"""
version: 1
workers: 2
tasks:
  - name: "sq-{{{{ i }}}}"
    call: faults:square
    args: ["{{{{ i }}}}"]
    foreach: {{i: {{range: [0, {MANY}]}}}}
"""
NAPS_JOB = """
version: 1
workers: 4
tasks:
""" + "".join(f"  - {{name: sq-{i}, call: faults:nap, args: [{0.6 * (3 - i):.1f}, {i}]}}\n"
              for i in range(4))


def _results(text: str) -> list[tuple[int, int]]:
    """(task number, result) of every task line on the screen, top to bottom."""
    return [(int(m.group(1)), int(m.group(2)))
            for line in screen_lines(text) if (m := RESULT.search(line))]


def test_thousands_of_task_lines_reach_the_terminal_in_order_above_the_final_bar(
        job_runner: JobRunner) -> None:
    """Spans of trivial tasks, every line printed above the live bar: none lost, none
    twice, in task order, and the bar's last draw counts them all."""
    code, text = run_on_terminal(job_runner, job_text=MANY_JOB)
    assert code == 0, text[-2000:]
    assert _results(text) == [(i, i * i) for i in range(MANY)]
    lines = screen_lines(text)
    bars = [n for n, line in enumerate(lines) if f"{MANY}/{MANY}" in line]
    assert bars and f"{MANY} ok" in lines[bars[-1]] and "eta 0:00:00" in lines[bars[-1]]
    last_task = max(n for n, line in enumerate(lines) if RESULT.search(line))
    summary = [n for n, line in enumerate(lines) if f"{MANY} task(s): {MANY} ok" in line]
    assert last_task < bars[-1] < summary[0]


def test_in_finish_order_the_lines_come_as_the_journal_says_tasks_ended(
        job_runner: JobRunner) -> None:
    """`--order finish` on a terminal: each line as its task ends (the shortest nap
    first), which is the order of the tasks' finish times in the journal."""
    code, text = run_on_terminal(job_runner, "--order", "finish", job_text=NAPS_JOB)
    assert code == 0, text
    journal = [record for record in read_journal(job_runner.folder / "j.jsonl")
               if record["event"] == "task_finished"]
    ended = [int(r["task"].split("-")[1]) for r in sorted(journal, key=lambda r: r["finished"])]
    assert [task for task, _ in _results(text)] == ended
    assert sorted(_results(text)) == [(i, i) for i in range(4)]
    assert any("4/4 4 ok" in line for line in screen_lines(text)), text
