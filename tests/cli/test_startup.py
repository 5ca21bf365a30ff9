"""What `runner validate` and `runner run` import: start-up is most of a short run's
time (issue 5's benchmarks), so the modules a command does not need must stay out.
Checked with `python -X importtime`, which names every module imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, RUNNER

pytestmark = pytest.mark.timeout(60)


def _imported(*args: str, cwd: Path, env: dict[str, str] | None = None) -> set[str]:
    argv = [sys.executable, "-X", "importtime", RUNNER, *args]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:")}


def test_validate_builds_no_model() -> None:
    """Once the schema cache is there (the first run writes it), neither pydantic's
    models nor `spec` are imported."""
    _imported("validate", "jobs/demo.yml", cwd=REPO)
    imported = _imported("validate", "jobs/demo.yml", cwd=REPO)
    assert "runner.jobfile.checker" in imported
    assert not imported & {"runner.jobfile.spec", "pydantic.main", "pydantic.plugin._loader"}


def test_a_job_of_commands_imports_no_pool_and_builds_no_model(
        tmp_path: Path, env: dict[str, str]) -> None:
    """The run validates with the cached schema (the first run writes it), so the
    models and pydantic's model machinery stay out, as the pool does."""
    (tmp_path / "job.yml").write_text("version: 1\nexecutor: pool\ntasks:\n"
                                      "  - {name: a, command: [\"true\"]}\n")
    env = {**env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    _imported("run", "job.yml", "--no-journal", "-q", cwd=tmp_path, env=env)
    imported = _imported("run", "job.yml", "--no-journal", "-q", cwd=tmp_path, env=env)
    assert {"runner.executors.commands", "runner.jobfile.job"} <= imported
    assert not imported & {"multiprocessing", "concurrent.futures", "runner.worker.child",
                           "pydantic.plugin._loader", "runner.jobfile.spec", "pydantic.main"}
