"""A command task whose shell string quotes its templates, run by a real `runner run`:
hostile values reach the program whole and none of them runs."""

from __future__ import annotations

import pytest

from tests.conftest import JobRunner

pytestmark = pytest.mark.timeout(120)

JOB = """
version: 1
workers: 2
tasks:
  - name: "zip-{{ index }}"
    command: 'printf "%s" "{{ f }}" > "out-{{ index }}"; gzip -c "{{ f }}" > "{{ f }}.gz"'
    foreach:
      f: ["report 00.txt", "it's", "$(touch pwned)", "`touch pwned`", "a\\"b"]
"""


def test_quoted_templates_in_a_command_run_as_written(job_runner: JobRunner) -> None:
    folder = job_runner.folder
    values = ["report 00.txt", "it's", "$(touch pwned)", "`touch pwned`", 'a"b']
    for value in values:
        (folder / value).write_text(value)
    done = job_runner.run(job_runner.write(JOB))
    assert done.returncode == 0, done.stderr
    assert [(folder / f"out-{i}").read_text() for i in range(5)] == values
    assert all((folder / f"{value}.gz").is_file() for value in values)
    assert not (folder / "pwned").exists()
