"""`logs:` on `executor: dask`: the workers write each attempt's files themselves, so the
logs folder must be at the same path on them as on the runner (here, a LocalCluster on
this machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import JobRunner

pytest.importorskip("distributed")
pytestmark = pytest.mark.timeout(120)

JOB = """\
version: 1
executor: dask
workers: 2
logs: "logs/{{ job }}"
tasks:
  - name: shout
    call: dask_tasks:shout
    args: [hello]
  - name: echo
    command: "echo out; echo err >&2"
"""


def test_calls_and_commands_keep_their_whole_output(job_folder: JobRunner) -> None:
    done = job_folder.run(job_folder.write(JOB))
    assert done.returncode == 0, done.stderr
    folder = Path(done.events("job_started")[0]["logs"])
    records = done.final()
    shout, echo = records["shout"], records["echo"]
    assert Path(shout["stdout_path"]) == folder / "shout.1.out"
    assert Path(shout["stdout_path"]).read_text() == "HELLO\n" == shout["stdout"]
    assert Path(shout["stderr_path"]).read_text() == ""
    assert Path(echo["stdout_path"]).read_text() == "out\n" == echo["stdout"]
    assert Path(echo["stderr_path"]).read_text() == "err\n" == echo["stderr"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "echo.1.err", "echo.1.out", "shout.1.err", "shout.1.out"]
