"""What the shortest run imports: `runner run` of one command, quiet and without a
journal, is mostly start-up, so everything it does not use must stay out of it:
other executors, the progress bar, journal reading and writing, reports, the
capture folder of callables. Checked with `python -X importtime` on a whole run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_startup import _imported

pytestmark = pytest.mark.timeout(60)

UNUSED = {
    # callables' executors and the Dask cluster
    "multiprocessing", "concurrent.futures", "asyncio", "runner.executors.pool",
    "runner.executors.mppool", "runner.executors.process", "runner.executors.dask",
    "runner.worker.child", "dask", "distributed",
    # callables' capture folder, made only when some entry calls Python
    "runner.worker.capture", "tempfile",
    # names of log files are checked with the one pattern that cleans them
    "string",
    # the progress bar (--quiet, and no terminal), journals, reports, selections
    "rich", "runner.sinks.progress", "runner.sinks.journal", "runner.sinks.jsonlines",
    "runner.sinks.collector", "runner.journal.reader", "runner.journal.resume",
    "runner.report", "runner.selection", "runner.jobfile.graph", "runner.cli.dryrun",
}


def test_a_one_task_run_imports_only_its_own_path(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "one.yml").write_text('version: 1\nname: one\ntasks:\n'
                                      '  - {name: t, command: "true"}\n')
    argv = ("run", "one.yml", "--no-journal", "--quiet")
    _imported(*argv, cwd=tmp_path, env=env)  # the first run writes the schema cache
    imported = _imported(*argv, cwd=tmp_path, env=env)
    assert {"runner.executors.commands", "runner.system.guardian"} <= imported
    assert not imported & UNUSED, sorted(imported & UNUSED)


def test_a_job_that_calls_python_gets_its_capture_folder(tmp_path: Path,
                                                          env: dict[str, str]) -> None:
    """The other side of leaving the capture folder out: a callable's run makes one
    (in the run's TMPDIR) and removes it when it ends."""
    (tmp_path / "tmp").mkdir()
    (tmp_path / "calls.yml").write_text('version: 1\nname: calls\nexecutor: process\ntasks:\n'
                                        '  - {name: t, call: "os:getpid"}\n')
    env = {**env, "TMPDIR": str(tmp_path / "tmp")}
    imported = _imported("run", "calls.yml", "--no-journal", "--quiet", cwd=tmp_path, env=env)
    assert {"runner.worker.capture", "runner.executors.process"} <= imported
    assert not list((tmp_path / "tmp").iterdir())


@pytest.mark.parametrize(("argv", "built"), [
    (["run", "job.yml", "--quiet"], ["run"]),
    (["--debug", "validate", "run.yml"], ["validate"]),
    ([], None), (["--help"], None), (["rnu", "job.yml"], None), (["-h", "run"], None),
    (["--debug", "--help", "validate"], None),
])
def test_the_command_line_builds_only_the_command_named(argv: list[str],
                                                        built: list[str] | None) -> None:
    """typer builds the options of every command it holds before parsing: a run holds
    only `run`; the root's help and a typo get every command, to list or suggest."""
    from runner.cli.app import app
    from runner.cli.named import named_command

    lean = named_command(app, argv)
    names = [command.callback.__name__ for command in lean.registered_commands
             if command.callback is not None]
    if built is None:
        assert lean is app and len(names) > 5
    else:
        assert names == built and len(app.registered_commands) > 5


def test_the_commands_annotations_are_objects_not_strings() -> None:
    """typer reads every built command's signature on each start; annotations kept as
    strings (`from __future__ import annotations`) are evaluated twice over there."""
    from runner.cli.app import app

    for command in app.registered_commands:
        annotations = command.callback.__annotations__ if command.callback else {}
        assert annotations and not [a for a in annotations.values() if isinstance(a, str)]
