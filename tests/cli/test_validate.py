"""`runner validate` and `runner schema --check` as a user runs them: a real process.

Every run is checked for a traceback: a user's mistake is a message and exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, RUNNER

GOOD = "version: 1\ntasks:\n  - name: a\n    call: tasks:f\n  - {name: b, command: ls}\n"
BROKEN = ("version: 1\n"
          "workers: true\n"
          "tasks:\n"
          "  - name: a\n"
          "    call: tasks:f\n"
          "    tmeout: 5s\n"
          "  - name: a\n"
          "    command: [ls, 1]\n")
BROKEN_LINES = [
    "broken.yml:2:10: workers: expected an integer, got true (a boolean)",
    'broken.yml:6:5: tasks[0].tmeout: unknown key "tmeout"; did you mean "timeout"?',
    'broken.yml:7:11: tasks[1].name: duplicate task name "a" (tasks[0] has it); task names '
    "must be unique",
    'broken.yml:8:19: tasks[1].command[1]: expected a string, got 1; quote it if you mean the '
    'text: "1"',
]


def runner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([RUNNER, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "good.yml").write_text(GOOD)
    (tmp_path / "broken.yml").write_text(BROKEN)
    (tmp_path / "tasks.py").write_text("def f():\n    return 1\n")
    return tmp_path


def test_a_good_file(folder: Path) -> None:
    done = runner("validate", "good.yml", cwd=folder)
    assert (done.returncode, done.stdout) == (0, "ok: good.yml (2 task entries)\n")


def test_a_broken_file_prints_every_error_and_exits_2(folder: Path) -> None:
    done = runner("validate", "broken.yml", cwd=folder)
    assert done.returncode == 2
    assert done.stdout.splitlines() == BROKEN_LINES


def test_good_and_broken_files_together(folder: Path) -> None:
    done = runner("validate", "good.yml", "broken.yml", "missing.yml", cwd=folder)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        *BROKEN_LINES, "missing.yml:1:1: no such file", "ok: good.yml (2 task entries)"]


def test_json_format(folder: Path) -> None:
    done = runner("validate", "--format", "json", "good.yml", "broken.yml", cwd=folder)
    found = json.loads(done.stdout)
    assert done.returncode == 2
    assert found["valid"] == ["good.yml"]
    assert found["problems"][0] == {
        "file": "broken.yml", "line": 2, "column": 10, "path": "workers",
        "message": "expected an integer, got true (a boolean)"}
    assert len(found["problems"]) == len(BROKEN_LINES)


def test_github_format(folder: Path) -> None:
    done = runner("validate", "--format", "github", "broken.yml", cwd=folder)
    lines = done.stdout.splitlines()
    assert done.returncode == 2
    assert lines[0] == ("::error file=broken.yml,line=2,col=10,title=runner validate::"
                        "workers: expected an integer, got true (a boolean)")
    assert len(lines) == len(BROKEN_LINES)
    assert all(line.startswith("::error file=broken.yml,line=") for line in lines)


@pytest.mark.parametrize(("content", "expected"), [
    ("[" * 100_000, "deep.yml:1:65: "),
    (b"version: 1\nname: \xff\n", "deep.yml:2:7: is not UTF-8 text"),
    ("", "deep.yml:1:1: is empty"),
    ("- 1\n", "deep.yml:1:1: the top level must be a mapping"),
])
def test_hostile_files_get_a_message_not_a_crash(tmp_path: Path, content: str | bytes,
                                                 expected: str) -> None:
    path = tmp_path / "deep.yml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    done = runner("validate", "deep.yml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout.startswith(expected)


MARKER_MODULE = ("from pathlib import Path\n"
                 "Path(__file__).with_name('imported.marker').write_text('x')\n"
                 "print('noise from the module')\n"
                 "def f():\n    return 1\n")


def test_validate_does_not_import_job_code(folder: Path) -> None:
    (folder / "tasks.py").write_text(MARKER_MODULE)
    assert runner("validate", "good.yml", cwd=folder).returncode == 0
    assert not (folder / "imported.marker").exists()


def test_check_imports_imports_and_keeps_json_clean(folder: Path) -> None:
    (folder / "tasks.py").write_text(MARKER_MODULE)
    done = runner("validate", "--check-imports", "--format", "json", "good.yml", cwd=folder)
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"valid": ["good.yml"], "problems": []}
    assert (folder / "imported.marker").exists()


def test_check_imports_reports_at_the_call_line(folder: Path) -> None:
    (folder / "bad_import.yml").write_text(
        "version: 1\ntasks:\n"
        "  - name: a\n    call: no_such_module_xyz:f\n"
        "  - name: b\n    call: tasks:missing\n"
        "  - name: c\n    call: tasks:f\n"
        "  - name: d\n    call: exits:f\n")
    (folder / "exits.py").write_text("import sys\nsys.exit(3)\n")
    done = runner("validate", "--check-imports", "bad_import.yml", cwd=folder)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        "bad_import.yml:4:11: tasks[0].call: cannot import no_such_module_xyz: "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        "bad_import.yml:6:11: tasks[1].call: tasks has no attribute 'missing'",
        "bad_import.yml:10:11: tasks[3].call: cannot import exits: SystemExit: 3",
    ]


def test_check_imports_gives_each_folder_its_own_module(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "job.yml").write_text(
            f"version: 1\ntasks:\n  - name: a\n    call: tasks:{name}\n")
        (tmp_path / name / "tasks.py").write_text(f"def {name}():\n    return 1\n")
    done = runner("validate", "--check-imports", "one/job.yml", "two/job.yml", cwd=tmp_path)
    assert (done.returncode, done.stdout.splitlines()) == (
        0, ["ok: one/job.yml (1 task entry)", "ok: two/job.yml (1 task entry)"])


def test_every_example_job_validates() -> None:
    jobs = sorted(str(p.relative_to(REPO)) for p in (REPO / "jobs").glob("*.yml"))
    done = runner("validate", *jobs, cwd=REPO)
    assert done.returncode == 0, done.stdout
    assert [line.split(" ")[1] for line in done.stdout.splitlines()] == jobs


def test_the_schema_in_the_repo_is_current() -> None:
    done = runner("schema", "--check", cwd=REPO)
    assert done.returncode == 0, done.stderr


def test_a_stale_schema_fails_the_check(tmp_path: Path) -> None:
    stale = tmp_path / "job.schema.json"
    stale.write_text((REPO / "schemas" / "job.schema.json").read_text().replace(
        '"workers"', '"wrokers"'))
    done = runner("schema", "--check", "--output", str(stale), cwd=tmp_path)
    assert done.returncode != 0
    assert "out of date" in done.stderr
    missing = runner("schema", "--check", "--output", "absent.json", cwd=tmp_path)
    assert missing.returncode != 0
