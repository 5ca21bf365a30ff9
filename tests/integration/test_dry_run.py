"""`runner run --dry-run` prints each task as a person would write it: a call as Python
with its arguments as literals, a list command shell-quoted, a string command as
rendered, under the task's rendered name, with its needs; env values never. Real
`runner` processes; the dry run starts nothing (the `marker` fixture checks)."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from tests.conftest import RUNNER, JobRunner

pytestmark = pytest.mark.timeout(60)

JOB = """
version: 1
tasks:
  - name: "m{{ i }}"
    call: tasks:write_marker
    args: ["out/marker{{ i }}"]
    kwargs: {mode: "{{ i }}", tags: [x, "it's"]}
    foreach: {i: [1, 2]}
  - name: "ls-{{ d }}"
    command: ["ls", "-l", "{{ d }}", "a b", "it's"]
    foreach: {d: ["/tmp", "dir with space"]}
    env: {TOKEN: hunter2-secret}
    needs: ["m{{ i }}"]
  - name: "greet-{{ who }}"
    command: "echo hello {{ who }} > out/{{ who }}.txt"
    foreach: {who: [world, "o'brien"]}
    needs: [{task: "ls-{{ d }}", as: listing}, "m{{i}}"]
  - name: plain
    command: "true"
    foreach: {k: [1, 2]}
"""


def _dry(job_runner: JobRunner, *args: str) -> list[str]:
    job = job_runner.write(JOB)
    done = subprocess.run([RUNNER, "run", str(job), "--dry-run", *args], capture_output=True,
                          text=True, timeout=60, cwd=job_runner.folder, env=job_runner.env())
    assert done.returncode == 0, done.stderr
    assert "hunter2-secret" not in done.stdout + done.stderr
    return done.stdout.splitlines()


def test_the_dry_run_reads_as_written(job_runner: JobRunner) -> None:
    lines = _dry(job_runner)
    assert lines == [
        "     0  m1  tasks:write_marker('out/marker1', mode=1, tags=['x', \"it's\"])",
        "     1  m2  tasks:write_marker('out/marker2', mode=2, tags=['x', \"it's\"])",
        "     2  ls-/tmp  ls -l /tmp 'a b' 'it'\"'\"'s'  TOKEN=***",
        "        needs: m{{ i }}",
        "     3  ls-dir with space  ls -l 'dir with space' 'a b' 'it'\"'\"'s'  TOKEN=***",
        "        needs: m{{ i }}",
        "     4  greet-world  echo hello world > out/world.txt",
        "        needs: ls-{{ d }}, m{{ i }}",
        "     5  greet-o'brien  echo hello 'o'\"'\"'brien' > out/'o'\"'\"'brien'.txt",
        "        needs: ls-{{ d }}, m{{ i }}",
        "     6  plain[k=1]  true",
        "     7  plain[k=2]  true",
    ]
    argv = shlex.split(lines[4].split("ls-dir with space  ")[1].removesuffix("  TOKEN=***"))
    assert argv == ["ls", "-l", "dir with space", "a b", "it's"]


def test_the_json_dry_run_keeps_ids_and_names_and_masks_env(job_runner: JobRunner) -> None:
    records = [json.loads(line) for line in _dry(job_runner, "--json")]
    assert [(r["id"], r["name"]) for r in records[:2]] == [("m{{ i }}[i=1]", "m1"),
                                                           ("m{{ i }}[i=2]", "m2")]
    assert records[2]["env"] == {"TOKEN": "***"} and records[2]["needs"] == ["m{{ i }}"]
    assert "needs" not in records[0]


def test_a_bound_need_names_the_matching_task(job_runner: JobRunner) -> None:
    job = job_runner.write("""
version: 1
tasks:
  - name: "convert-{{ f }}"
    command: ["true"]
    foreach: {f: [a, b]}
  - name: "thumb-{{ f }}"
    call: tasks:thumb
    args: ["{{ f }}"]
    foreach: {f: [a, b]}
    needs: ["convert-{{f}}"]
""")
    done = subprocess.run([RUNNER, "run", str(job), "--dry-run", "--only", "thumb-b"],
                          capture_output=True, text=True, timeout=60, cwd=job_runner.folder,
                          env=job_runner.env())
    assert done.stdout.splitlines() == ["     1  convert-b  true",
                                        "     3  thumb-b  tasks:thumb('b')",
                                        "        needs: convert-b"]
