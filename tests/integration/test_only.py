"""`runner run --only`: globs over rendered names and `tag:NAME` choose the tasks of a run,
plus everything they need, transitively; the rest are not part of it (neither journaled
nor counted). With `--resume`, only the selection's tasks not recorded ok run. A
selection of nothing is exit 2 with the closest names. Real runs; every wait bounded;
the `marker` fixture (through `job_runner`) proves nothing outlives a test."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import RUNNER, Finished, JobRunner, read_journal

pytestmark = pytest.mark.timeout(120)

PIPELINE = """
version: 1
name: pipe
workers: 2
tasks:
  - name: prepare
    command: ["true"]
  - name: "convert-{{ f }}"
    command: ["echo", "{{ f }}"]
    foreach: {f: [a, b, c]}
    needs: [prepare]
  - name: "thumb-{{ f }}-{{ s }}"
    call: faults:ok
    foreach: {f: [a, b, c], s: [1, 2]}
    needs: ["convert-{{f}}"]
    tags: [thumbs]
  - name: index
    command: ["true"]
    needs: [{task: "thumb-{{ f }}-{{ s }}", as: thumbs}]
    tags: [site, smoke]
  - name: "lonely-{{ k }}"
    command: ["true"]
    foreach: {k: [1, 2]}
    tags: [smoke]
"""


def _names(done: Finished, run: int = -1) -> list[str]:
    """The names the given run (by order in the journal) finished, in plan order."""
    runs: list[list[dict[str, object]]] = []
    for record in done.journal:
        if record["event"] == "job_started":
            runs.append([])
        elif record["event"] == "task_finished":
            runs[-1].append(record)
    return [str(r["name"]) for r in sorted(runs[run], key=lambda r: int(str(r["index"])))]


def _tasks_counted(done: Finished, run: int = -1) -> tuple[int, int]:
    """(`tasks` of the run's job_started, the tasks its job_finished counts)."""
    started, finished = done.events("job_started")[run], done.events("job_finished")[run]
    return started["tasks"], sum(finished["counts"].values())


def _faults_ok(job_runner: JobRunner) -> None:
    with (job_runner.folder / "faults.py").open("a") as module:
        module.write("\n\ndef ok():\n    return 'ok'\n")


@pytest.mark.parametrize(("patterns", "expected"), [
    (["thumb-b-*"], ["prepare", "convert-b", "thumb-b-1", "thumb-b-2"]),
    (["thumb-?-2", "lonely-2"], ["prepare", "convert-a", "convert-b", "convert-c",
                                 "thumb-a-2", "thumb-b-2", "thumb-c-2", "lonely-2"]),
    (["tag:smoke"], ["prepare", "convert-a", "convert-b", "convert-c", "thumb-a-1",
                     "thumb-a-2", "thumb-b-1", "thumb-b-2", "thumb-c-1", "thumb-c-2", "index",
                     "lonely-1", "lonely-2"]),
    (["tag:thumbs", "lonely-[1]"], ["prepare", "convert-a", "convert-b", "convert-c",
                                    "thumb-a-1", "thumb-a-2", "thumb-b-1", "thumb-b-2",
                                    "thumb-c-1", "thumb-c-2", "lonely-1"]),
    (["convert-c"], ["prepare", "convert-c"]),
    (["Convert-c", "prepare"], ["prepare"]),  # case-sensitive
], ids=["glob-and-its-needs", "several-globs", "tag-and-fan-in", "tag-and-glob", "one-to-one",
        "case-sensitive"])
def test_only_runs_the_selection_and_what_it_needs(job_runner: JobRunner, patterns: list[str],
                                                   expected: list[str]) -> None:
    _faults_ok(job_runner)
    only = [arg for pattern in patterns for arg in ("--only", pattern)]
    done = job_runner.run(job_runner.write(PIPELINE), *only)
    assert done.returncode == 0, done.stderr
    assert _names(done) == expected
    assert _tasks_counted(done) == (len(expected), len(expected))
    assert len(done.events("task_started")) == len(expected)
    assert f"--only: {len(expected)} of 13 task(s) selected" in done.stderr
    dry = subprocess.run([RUNNER, "run", str(job_runner.folder / "job.yml"), "--dry-run",
                          *only], capture_output=True, text=True, timeout=60,
                         env=job_runner.env())
    assert [line.split()[1] for line in dry.stdout.splitlines()
            if not line.lstrip().startswith("needs:")] == expected


def test_resume_with_only_reruns_only_selected_tasks_not_recorded_ok(
        job_runner: JobRunner) -> None:
    _faults_ok(job_runner)
    job = job_runner.write(PIPELINE.replace("    call: faults:ok\n", "    command: 'test -e "
                                            "ready-{{ f }}{{ s }}'\n"))
    journal = job_runner.folder / "journal.jsonl"
    (job_runner.folder / "ready-b1").write_text("")
    first = job_runner.run(job, "--only", "thumb-b-*")
    assert first.returncode == 1
    assert {r["name"]: r["status"] for r in first.events("task_finished")} == {
        "prepare": "ok", "convert-b": "ok", "thumb-b-1": "ok", "thumb-b-2": "failed"}

    (job_runner.folder / "ready-b2").write_text("")
    (job_runner.folder / "ready-a1").write_text("")
    second = job_runner.run(job, "--resume", str(journal), "--only", "thumb-[ab]-*")
    done = Finished(second.returncode, second.stdout, second.stderr, read_journal(journal),
                    second.elapsed)
    assert _names(done) == ["convert-a", "thumb-a-1", "thumb-a-2", "thumb-b-2"]
    assert _tasks_counted(done) == (4, 4)
    assert "--only: 7 of 13 task(s) selected, 4 to run" in second.stderr
    statuses = {r["name"]: r["status"] for r in done.events("task_finished")[-4:]}
    assert statuses == {"convert-a": "ok", "thumb-a-1": "ok", "thumb-a-2": "failed",
                        "thumb-b-2": "ok"}
    assert second.returncode == 1

    third = job_runner.run(job, "--resume", str(journal), "--only", "lonely-*")
    assert third.returncode == 0, third.stderr
    done = Finished(0, "", "", read_journal(journal), 0.0)
    assert _names(done) == ["lonely-1", "lonely-2"]


@pytest.mark.parametrize(("pattern", "hint"), [
    ("thumb-d-*", "did you mean"),
    ("tumb-a-1", "did you mean thumb-a-1"),
    ("tag:smok", "did you mean tag:smoke?"),
    ("tag:nothing-like-it", "tags: site, smoke, thumbs"),
    ("zzzzzzzz", "task names look like prepare"),
])
def test_only_that_selects_nothing_is_exit_2_naming_the_closest(
        job_runner: JobRunner, pattern: str, hint: str) -> None:
    job = job_runner.write(PIPELINE)
    journal = job_runner.folder / "journal.jsonl"
    for extra in ([], ["--dry-run"]):
        done = job_runner.run(job, "--only", pattern, *extra)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert f"--only {pattern!r}: selects no task; " in done.stderr and hint in done.stderr
        assert done.stdout == "" and not journal.exists()


def test_a_resume_whose_selection_is_empty_is_exit_2_and_appends_nothing(
        job_runner: JobRunner) -> None:
    _faults_ok(job_runner)
    job = job_runner.write(PIPELINE)
    journal = job_runner.folder / "journal.jsonl"
    assert job_runner.run(job, "--only", "prepare").returncode == 0
    before = journal.read_bytes()
    again = job_runner.run(job, "--resume", str(journal), "--only", "prepar")
    assert again.returncode == 2 and "did you mean prepare" in again.stderr
    assert journal.read_bytes() == before


def test_a_selection_of_tasks_all_recorded_ok_runs_nothing(job_runner: JobRunner) -> None:
    job = job_runner.write(PIPELINE)
    journal = job_runner.folder / "journal.jsonl"
    assert job_runner.run(job, "--only", "convert-a").returncode == 0
    again = job_runner.run(job, "--resume", str(journal), "--only", "convert-a")
    assert again.returncode == 0, again.stderr
    done = Finished(0, "", "", read_journal(journal), 0.0)
    assert _names(done) == [] and _tasks_counted(done) == (0, 0)


@pytest.mark.parametrize("executor", ["pool", "mp-pool", "process"])
def test_only_holds_where_workers_run_spans_of_the_plan(job_runner: JobRunner,
                                                        executor: str) -> None:
    """--quiet lets pool workers render and run whole spans of the plan themselves; a
    selection must still leave out every task outside it."""
    job = job_runner.write(f"""
version: 1
executor: {executor}
workers: 2
tasks:
  - name: "sq-{{{{ i }}}}"
    call: faults:square
    args: ["{{{{ i }}}}"]
    foreach: {{i: {{range: [0, 200]}}}}
""")
    done = job_runner.run(job, "--quiet", "--only", "sq-1?", "--only", "sq-7")
    assert done.returncode == 0, done.stderr
    assert sorted(_names(done)) == sorted([f"sq-{i}" for i in range(10, 20)] + ["sq-7"])
    assert _tasks_counted(done) == (11, 11)
