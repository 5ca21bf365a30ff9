"""The distribution's own name on the package index, with `runner` as its command."""

from __future__ import annotations

import re
from importlib import metadata

from tests.conftest import REPO

DISTRIBUTION = "yaml-job-runner"


def test_the_distribution_has_a_name_of_its_own_and_installs_the_runner_command() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^name = "([^"]+)"$', pyproject, re.M)[1] == DISTRIBUTION  # type: ignore[index]
    scripts = {e.name: e.value for e in metadata.distribution(DISTRIBUTION).entry_points
               if e.group == "console_scripts"}
    assert scripts == {"runner": "runner.cli.app:main"}


def test_every_install_hint_names_the_distribution() -> None:
    """A hint naming `runner` on the index would install someone else's project."""
    texts = [p.read_text() for p in (*REPO.joinpath("runner").rglob("*.py"),
                                     REPO / "README.md", *REPO.joinpath("docs").glob("*.md"))]
    hints = [m.group(0) for text in texts
             for m in re.finditer(r"pipx? install\s+'?([\w.+-]+)(\[\w+\])?'?", text)
             if m.group(1) not in ("-e", "--quiet", "-q", "joblib", "pandas", "duckdb")
             and not m.group(1).startswith("git+")]
    assert hints, "no install hint found"
    assert all(DISTRIBUTION in hint for hint in hints), hints
    readme = (REPO / "README.md").read_text()
    for command in (f"pip install {DISTRIBUTION}", f"pipx install {DISTRIBUTION}",
                    f"pip install '{DISTRIBUTION}[dask]'"):
        assert command in readme
