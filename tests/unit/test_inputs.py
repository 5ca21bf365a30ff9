"""Foreach axes read from the disk (`{glob: ...}`, `{lines: ...}`): read when a plan is
built, never at load; each refusal one line naming the entry, the file and the cause."""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.inputs import (
    MAX_LINE_VALUES,
    MAX_LINES_BYTES,
    MAX_VALUE_CHARS,
    expand,
    glob_values,
)
from runner.jobfile.job import Job
from runner.jobfile.loader import load
from runner.plan import Plan

Loader = Callable[..., Job]


def _text(foreach: str) -> str:
    return f'version: 1\ntasks:\n  - name: "t"\n    call: m:f\n    foreach: {foreach}\n'


def _job(job: Loader, foreach: str) -> Job:
    return job(_text(foreach))


def _file(path: Path, foreach: str) -> Path:
    path.write_text(_text(foreach))
    return path


def _ids(loaded: Job) -> list[str]:
    return [task.id for task in Plan(loaded)]


def test_loading_reads_nothing(job: Loader, tmp_path: Path) -> None:
    loaded = _job(job, "{f: {glob: 'in/*'}, k: {lines: absent.txt}}")
    assert not (tmp_path / "absent.txt").exists()
    with pytest.raises(UsageError, match=r"absent\.txt.*no such file"):
        Plan(loaded)


def test_a_glob_is_sorted_relative_and_guarded_against_options(job: Loader,
                                                                tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("b.jpg", "a.jpg", "-rf.jpg", "sub/c.jpg", ".hidden.jpg", "x.png"):
        (tmp_path / "in" / name).write_text("")
    assert _ids(_job(job, "{f: {glob: 'in/*.jpg'}}")) == [
        "t[f=in/-rf.jpg]", "t[f=in/a.jpg]", "t[f=in/b.jpg]"]
    assert [t.values["f"] for t in Plan(_job(job, "{f: {glob: 'in/**/*.jpg'}}"))] == [
        "in/-rf.jpg", "in/a.jpg", "in/b.jpg", "in/sub/c.jpg"]
    inside = _file(tmp_path / "in" / "j.yml", "{f: {glob: '*.jpg'}}")
    assert [t.values["f"] for t in Plan(load(inside, environ={}))] == [
        "./-rf.jpg", "a.jpg", "b.jpg"]


def test_a_glob_may_climb_out_or_be_absolute(job: Loader, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("")
    (tmp_path / "jobs").mkdir()
    path = _file(tmp_path / "jobs" / "j.yml",
                 f"{{f: {{glob: ../data/*.csv}}, g: {{glob: '{tmp_path}/data/*.csv'}}}}")
    assert [t.values for t in Plan(load(path, environ={}))] == [
        {"f": "../data/x.csv", "g": f"{tmp_path}/data/x.csv"}]


def test_lines_are_stripped_in_order_and_links_followed(job: Loader, tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_bytes(b"\xef\xbb\xbfone\r\n\n  two \t\n\nthree")
    (tmp_path / "inputs.txt").symlink_to(tmp_path / "real.txt")
    plan = Plan(_job(job, "{k: {lines: inputs.txt}, n: [1, 2]}"))
    assert [(t.values["k"], t.values["n"]) for t in plan] == [
        ("one", 1), ("one", 2), ("two", 1), ("two", 2), ("three", 1), ("three", 2)]
    assert len(plan) == 6 and plan.notices == []


@pytest.mark.parametrize(("content", "message"), [
    (b"a\nb\n a\n", 'line 3: "a" repeats line 1; every task needs its own id'),
    (b"ok\n\xff\xfe\n", "line 2: is not UTF-8 text"),
    (b"ok\nnul\x00here\n", "line 2: holds a NUL byte"),
    (b"ok\n" + b"x" * (MAX_VALUE_CHARS + 1), f"line 2: {MAX_VALUE_CHARS + 1} characters, more "
     f"than the {MAX_VALUE_CHARS} a value may have"),
    (b"".join(b"%d\n" % i for i in range(MAX_LINE_VALUES + 1)),
     f"line {MAX_LINE_VALUES + 1}: more than {MAX_LINE_VALUES:,} values"),
])
def test_bad_lines(job: Loader, tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "in.txt").write_bytes(content)
    with pytest.raises(UsageError) as caught:
        Plan(_job(job, "{k: {lines: in.txt}}"))
    assert str(caught.value).startswith(
        f'{tmp_path / "job.yml"}: tasks[0].foreach.k: lines file "in.txt" '
        f'({tmp_path / "in.txt"}) {message}'), str(caught.value)[:300]


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "missing", "huge"])
def test_lines_files_that_are_not_files_are_refused_without_waiting(
        job: Loader, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "in.txt"
    if kind == "fifo":
        os.mkfifo(path)  # opened for reading, it would wait for a writer forever
    elif kind == "device":
        path.symlink_to("/dev/zero")  # endless, and says its size is 0
    elif kind == "folder":
        path.mkdir()
    elif kind == "huge":
        with path.open("wb") as file:
            file.truncate(MAX_LINES_BYTES + 1)
    expected = {"missing": "no such file", "huge": f"larger than the limit of {MAX_LINES_BYTES:,}"}
    with pytest.raises(UsageError, match=expected.get(kind, "is not a regular file")) as caught:
        Plan(_job(job, "{k: {lines: in.txt}}"))
    assert f'lines file "in.txt" ({path})' in str(caught.value)


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file names are UTF-8 only")
def test_a_path_that_is_not_utf8_is_refused(job: Loader, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in").joinpath(os.fsdecode(b"bad\xff.jpg")).write_text("")
    with pytest.raises(UsageError, match=r'glob "in/\*" matched a path whose name is not UTF-8'):
        Plan(_job(job, "{f: {glob: 'in/*'}}"))


def test_nothing_found_makes_no_tasks_and_says_so(job: Loader, tmp_path: Path) -> None:
    (tmp_path / "blank.txt").write_text("\n  \n")
    loaded = job("version: 1\ntasks:\n"
                 "  - {name: 'a-{{ f }}', call: m:f, foreach: {f: {glob: 'none/*'}, n: [1, 2]}}\n"
                 "  - {name: b, call: m:f, foreach: {k: {lines: blank.txt}}}\n"
                 "  - {name: c, call: m:f}\n")
    plan = Plan(loaded)
    assert len(plan) == 1 and [t.id for t in plan] == ["c"]
    assert plan.notices == [
        'runner: tasks[0] "a-{{ f }}": glob "none/*" matched nothing, so it has no tasks',
        'runner: tasks[1] "b": lines file "blank.txt" has no non-empty line, so it has no '
        "tasks"]


def test_a_read_axis_is_counted_again(job: Loader, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("a\nb\nc\n")
    huge = sys.maxsize // 2
    loaded = _job(job, f"{{i: {{range: [0, {huge}]}}, k: {{lines: in.txt}}}}")
    with pytest.raises(UsageError, match=r"tasks\[0\].foreach: this foreach expands to"):
        Plan(loaded)


def test_an_expanded_job_is_the_same_object_without_inputs(job: Loader) -> None:
    loaded = _job(job, "{i: [1, 2]}")
    assert expand(loaded) == (loaded, [])


def test_a_plan_of_an_expanded_job_reads_nothing_again(job: Loader, tmp_path: Path) -> None:
    """What workers rendering spans do: their plan is built from the run's expanded job,
    so they see the values the run started with, whatever the disk holds by then."""
    (tmp_path / "in.txt").write_text("a\nb\n")
    first = Plan(_job(job, "{k: {lines: in.txt}}"))
    (tmp_path / "in.txt").write_text("c\n")
    assert [t.id for t in Plan(first.job)] == [t.id for t in first] == ["t[k=a]", "t[k=b]"]


@pytest.mark.timeout(30)
def test_double_star_never_walks_through_a_link(tmp_path: Path) -> None:
    """Two links back up a tree make the standard glob's `**` walk endless."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("")
    (tmp_path / "d" / "up1").symlink_to("..")
    (tmp_path / "d" / "up2").symlink_to("..")
    assert glob_values(tmp_path, "**/*.txt", "w") == ("d/x.txt",)
    assert glob_values(tmp_path, "d/up1/d/*.txt", "w") == ("d/up1/d/x.txt",)  # one level: fine


@pytest.mark.parametrize("pattern", ["t/**/*.txt", "**/*.md", "t/a/**/c/*", "t/*/**/*.txt",
                                     "t/**/b/**/*.txt", "t/**/", "t", "t/[a]/*.txt"])
def test_double_star_otherwise_matches_as_glob_does(tmp_path: Path, pattern: str) -> None:
    for name in ("1.txt", "a/2.txt", "a/b/3.txt", "a/b/c/4.txt", "a/b/c/7.md", ".hid/5.txt",
                 "x/.6.txt", "we[i]rd/8.txt", "a/b/b/9.txt"):
        (tmp_path / "t" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "t" / name).write_text("")
    expected = sorted(set(glob.glob(pattern, root_dir=tmp_path, recursive=True)))
    assert list(glob_values(tmp_path, pattern, "w")) == expected and expected


def test_the_expanded_job_keeps_its_file_and_key(job: Loader, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("a\n")
    loaded = _job(job, "{k: {lines: in.txt}}").with_env_key(b"k" * 32)
    expanded = Plan(loaded).job
    assert expanded is not loaded and expanded.tasks[0].foreach == {"k": ("a",)}
    assert (expanded.source, expanded.env_key) == (loaded.source, loaded.env_key)
