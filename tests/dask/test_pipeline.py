"""A pipeline on a local Dask cluster: one-to-one with `as`, a command's result, a fan-in,
a skip and a cleanup under `if: always`, as on the other executors."""

from __future__ import annotations

import pytest

from tests.conftest import JobRunner
from tests.integration.test_pipeline import STEPS

pytestmark = pytest.mark.timeout(180)


def test_a_pipeline_runs_on_dask(job_folder: JobRunner) -> None:
    (job_folder.folder / "steps.py").write_text(STEPS)
    job = job_folder.write("""
version: 1
executor: dask
workers: 2
on_failure: continue
tasks:
  - {name: "a-{{ i }}", call: steps:double, args: ["{{ i }}"], foreach: {i: [1, 2, 3]}}
  - name: "b-{{ i }}"
    command: "echo {{ r }}"
    result: json
    foreach: {i: [1, 2, 3]}
    needs: [{task: "a-{{ i }}", as: r}]
  - {name: bad, call: steps:fail}
  - {name: skipped, call: steps:double, args: [1], needs: [bad]}
  - name: total
    call: steps:gather
    args: ["{{ bs }}"]
    needs: [{task: "b-{{ i }}", as: bs}, skipped]
    if: always
""")
    done = job_folder.run(job, timeout=150)
    assert done.returncode == 1, done.stderr
    final = done.final()
    assert final["total"]["result"] == [[2, 4, 6]]
    assert final["skipped"]["status"] == "skipped" and final["skipped"]["pid"] is None
    for i in (1, 2, 3):
        assert final[f"b-{{{{ i }}}}[i={i}]"]["started"] >= final[f"a-{{{{ i }}}}[i={i}]"][
            "finished"]
