"""`dask.address`: a scheduler and workers started by hand, as on a real cluster.

The workers run in a folder that does not hold the job's modules, so a call that
imports there proves the upload; `remote_cluster` asserts in its finalizer that
none of the processes it started survives.
"""

from __future__ import annotations

import socket

import pytest

from tests.conftest import JobRunner
from tests.dask.conftest import Cluster

pytest.importorskip("distributed")
pytestmark = pytest.mark.timeout(120)

REMOTE = """\
version: 1
executor: dask
workers: 2
shutdown: {grace: 1s}
tasks:
  - name: "sq{{ i }}"
    call: dask_tasks:square
    args: ["{{ i }}"]
    foreach:
      i: {range: [1, 6]}
  - name: who
    call: dask_tasks:whoami
  - name: packaged
    call: helpers.maths:triple
    args: [5]
  - name: echo
    command: ["echo", "remote"]
  - name: sleepy
    call: dask_tasks:nap
    args: [30]
    timeout: 1s
  - name: die
    call: dask_tasks:die
"""


def test_a_job_runs_on_a_cluster_started_by_hand(remote_cluster: Cluster,
                                                 job_folder: JobRunner) -> None:
    package = job_folder.folder / "helpers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "maths.py").write_text("def triple(n: int) -> int:\n    return 3 * n\n")
    done = job_folder.run(job_folder.write(REMOTE), "--set",
                          f"dask.address={remote_cluster.address}")
    assert done.returncode == 1, done.stderr
    assert done.elapsed < 30, "the 30 s task was not stopped"
    records = done.final()
    assert sorted(r["result"] for t, r in records.items() if t.startswith("sq")) == \
        [1, 4, 9, 16, 25]
    runner = done.events("job_started")[0]["pid"]
    who = records["who"]
    assert who["result"]["ppid"] in remote_cluster.nanny_pids
    assert who["pid"] == who["result"]["pid"] != runner
    assert records["echo"]["stdout"] == "remote\n" and records["echo"]["ppid"] != runner
    assert records["sleepy"]["status"] == "timeout"
    assert records["die"]["status"] == "crashed"
    assert records["packaged"]["result"] == 15, "a package in the job folder is uploaded"
    assert sorted(r["status"] for r in records.values()).count("ok") == 8


def test_without_upload_an_import_error_names_the_rule(remote_cluster: Cluster,
                                                      job_folder: JobRunner) -> None:
    """The module is missing from the workers' view (here: missing altogether, since on one
    host the job folder, added to the workers' sys.path, is theirs too)."""
    job = job_folder.write("version: 1\nexecutor: dask\ntasks:\n"
                           "  - {name: one, call: 'local_only:one'}\n")
    done = job_folder.run(job, "--set", f"dask.address={remote_cluster.address}",
                          "--set", "dask.upload=false")
    assert done.returncode == 1, done.stderr
    error = done.final()["one"]["error"]
    assert error["type"] == "ModuleNotFoundError"
    assert "PYTHONPATH" in error["message"] and "dask.upload: true" in error["message"]


def test_an_unreachable_scheduler_fails_fast(job_folder: JobRunner) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    job = job_folder.write("version: 1\nexecutor: dask\ntasks:\n"
                           "  - {name: one, call: 'dask_tasks:square', args: [1]}\n")
    done = job_folder.run(job, "--set", f"dask.address=tcp://127.0.0.1:{port}", timeout=30)
    assert done.returncode == 3
    assert done.elapsed < 15
    assert f"cannot reach the dask scheduler at tcp://127.0.0.1:{port}" in done.stderr
