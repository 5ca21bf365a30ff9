"""The loader's own errors: what a broken or hostile file gets, with its exact position.

Every case says line:col, the spec path and the message; nothing may crash the
loader (no RecursionError, no hang on a FIFO or /dev/zero, no object built from
a tag).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.jobfile.job import CallTask, Job
from runner.jobfile.loader import load
from runner.jobfile.yamlsafe import Limits

TASK = "tasks:\n  - name: a\n    call: m:f\n"
VALID = "version: 1\n" + TASK
TOP_KEYS = ("version, name, description, executor, workers, mode, start_method, backlog, "
            "max_tasks_per_worker, on_failure, max_failures, shutdown, defaults, journal, "
            "journal_fsync, logs, limits, admission, enforce_memory, abort_on, dask, tasks")


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\nwrkers: 3\n" + TASK,
     '2:1: wrkers: unknown key "wrkers"; did you mean "workers"?'),
    ("version: 1\nzzz: 3\n" + TASK,
     f'2:1: zzz: unknown key "zzz"; expected one of: {TOP_KEYS}'),
    ("version: 1\ntimeout: 5s\n" + TASK,
     '2:1: timeout: unknown key "timeout"; timeout is a task field: put it under '
     "`defaults:` or in a task"),
    ("version: 1\nshutdown:\n  sgnal: SIGTERM\n" + TASK,
     '3:3: shutdown.sgnal: unknown key "sgnal"; did you mean "signal"?'),
    ("version: 1\ndefaults: {retires: 2}\n" + TASK,
     '2:12: defaults.retires: unknown key "retires"; did you mean "retries"?'),
    ("version: 1\ndask: {adress: x}\n" + TASK,
     '2:8: dask.adress: unknown key "adress"; did you mean "address"?'),
    (VALID + "    tmeout: 5s\n",
     '5:5: tasks[0].tmeout: unknown key "tmeout"; did you mean "timeout"?'),
    ("version: 1\ntasks:\n  - name: a\n    command: ls\n    args: [1]\n",
     '5:5: tasks[0].args: unknown key "args"; args belongs to a `call:` task: a '
     "command's arguments go in its list, e.g. command: [echo, hello]"),
    ("version: 1\ntasks:\n  - name: a\n    command: ls\n    cdw: /\n",
     '5:5: tasks[0].cdw: unknown key "cdw"; did you mean "cwd"?'),
])
def test_unknown_keys_are_located_at_the_key_with_a_suggestion(
        problems: Callable[..., list[str]], text: str, expected: str) -> None:
    assert problems(text) == [expected]
    assert "<" not in expected  # never a union's tag label in the path


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\nversion: 1\n" + TASK,
     '2:1: version: duplicate key "version" (first at line 1)'),
    (VALID + "    call: m:g\n",
     '5:5: tasks[0].call: duplicate key "call" (first at line 4)'),
    (VALID + "    kwargs: {a: 1, a: 2}\n",
     '5:20: tasks[0].kwargs.a: duplicate key "a" (first at line 5)'),
])
def test_duplicate_keys(problems: Callable[..., list[str]], text: str, expected: str) -> None:
    assert problems(text) == [expected]


TAG_MESSAGE = ("is not allowed: a job file is plain data; name a Python callable with "
               "`call: module:function`")


@pytest.mark.parametrize(("value", "tag"), [
    ("!!python/object:os.system {}", "!!python/object:os.system"),
    ('!!python/object/apply:os.system ["true"]', "!!python/object/apply:os.system"),
    ("!!python/name:os.system x", "!!python/name:os.system"),
    ("!!python/tuple [1, 2]", "!!python/tuple"),
    ("!!binary aGVsbG8=", "!!binary"),
    ("!!set {a}", "!!set"),
    ("!!timestamp 2001-12-14", "!!timestamp"),
    ("!custom x", "!custom"),
])
def test_tags_other_than_plain_data_are_refused(
        problems: Callable[..., list[str]], value: str, tag: str) -> None:
    assert problems(VALID + f"    args: [{value}]\n") == [
        f"5:12: tasks[0].args[0]: the tag {tag} {TAG_MESSAGE}"]


def test_a_python_tag_builds_nothing(problems: Callable[..., list[str]], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = VALID + f'    args: [!!python/object/apply:os.system ["touch {marker}"]]\n'
    assert len(problems(text)) == 1
    assert not marker.exists()


def test_plain_data_tags_are_allowed(job: Callable[..., Job]) -> None:
    task = job(VALID + '    args: !!seq [!!str 1, !!int "2", !!null ""]\n').tasks[0]
    assert isinstance(task, CallTask) and task.args == ["1", 2, None]


DEPTH = "nesting is deeper than the limit of 64 levels"


@pytest.mark.parametrize(("text", "expected"), [
    ("[" * 100_000, f"1:65: {'[0]' * 64}: {DEPTH}"),
    ("[" * 100_000 + "]" * 100_000, f"1:65: {'[0]' * 64}: {DEPTH}"),
    ("version: 1\nx: " + "[" * 100_000 + "\n" + TASK, f"2:67: x{'[0]' * 63}: {DEPTH}"),
    ("version: 1\nx: " + "{a: " * 100_000 + "\n" + TASK, f"2:256: x{'.a' * 63}: {DEPTH}"),
])
def test_deep_nesting_is_a_clean_error_not_a_recursion(
        problems: Callable[..., list[str]], text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_block_nesting_past_a_small_limit(problems: Callable[..., list[str]]) -> None:
    text = "version: 1\nx:\n" + "".join("  " * d + f"k{d}:\n" for d in range(1, 6))
    assert problems(text + TASK, limits=Limits(max_depth=4)) == [
        "6:9: x.k1.k2.k3: nesting is deeper than the limit of 4 levels"]


def laughs(levels: int) -> str:
    """The billion laughs: each level is ten aliases of the one before."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        name, previous = chr(97 + level), chr(96 + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    return "version: 1\n" + "\n".join(lines) + "\n" + TASK


def test_alias_expansion_past_the_node_limit(problems: Callable[..., list[str]]) -> None:
    # a..d hold 11 + 111 + 1111 + 11111 values; the 8th *d in e crosses 100,000.
    assert problems(laughs(9)) == [
        "6:36: e[7]: the file expands to more than 100000 values (are aliases expanding "
        "too far?)"]


def test_alias_expansion_counts_against_a_small_limit(
        problems: Callable[..., list[str]]) -> None:
    text = "version: 1\nx: &x [1, 2, 3]\ny: [*x, *x]\n" + TASK
    assert problems(text, limits=Limits(max_nodes=14)) == [
        "3:9: y[1]: the file expands to more than 14 values (are aliases expanding too far?)"]


def test_anchors_and_merge_keys_within_the_limits(job: Callable[..., Job]) -> None:
    loaded = job(
        "version: 1\n"
        "defaults: &d {timeout: 5s, retries: 1}\n"
        "tasks:\n"
        "  - &first {name: a, call: m:f, args: &args [1, 2]}\n"
        "  - <<: *first\n"
        "    name: b\n"
        "    retries: 4\n"
        "  - <<: [*d, {name: c}]\n"
        "    command: [echo]\n"
        "  - {name: d, call: m:g, args: *args}\n")
    a, b, c, d = loaded.tasks
    assert [(t.name, t.timeout, t.retries) for t in (a, b, c, d)] == [
        ("a", None, None), ("b", None, 4), ("c", 5.0, 1), ("d", None, None)]
    assert isinstance(b, CallTask) and isinstance(d, CallTask)
    assert b.call == "m:f" and d.args == [1, 2]


def test_an_error_from_a_merged_mapping_points_at_the_merge(
        problems: Callable[..., list[str]]) -> None:
    text = ("version: 1\ntasks:\n  - &t {name: a, call: m:f, tmeout: 5s}\n"
            "  - <<: *t\n    name: b\n")
    assert problems(text) == [
        '3:29: tasks[0].tmeout: unknown key "tmeout"; did you mean "timeout"?',
        '4:9: tasks[1].tmeout: unknown key "tmeout"; did you mean "timeout"?']


@pytest.mark.parametrize(("text", "expected"), [
    (VALID + "    <<: 5\n", "5:9: tasks[0]: `<<` merges a mapping or a list of mappings"),
    (VALID + "    args: [*nope]\n", "5:12: tasks[0].args[0]: unknown alias *nope"),
    ("version: 1\n? [a]\n: 1\n" + TASK, "2:3: ?: a key must be plain text, not a mapping or list"),
    ("version: 1\nx: &x a\n*x : 1\n" + TASK, "2:1: x: unknown key \"x\"; expected one of: "
     + TOP_KEYS),
])
def test_odd_keys_and_aliases(problems: Callable[..., list[str]], text: str,
                              expected: str) -> None:
    assert problems(text)[0] == expected


def test_a_bad_key_does_not_shift_the_keys_after_it(problems: Callable[..., list[str]]) -> None:
    text = "version: 1\n!!python/name:os.system x: 1\n? {a: 1}\n: 2\n" + TASK
    assert problems(text) == [
        f"2:1: ?: the tag !!python/name:os.system {TAG_MESSAGE}",
        "3:3: ?: a key must be plain text, not a mapping or list"]


@pytest.mark.parametrize("size", [len(VALID), len(VALID) + 1])
def test_size_limit_is_inclusive(job: Callable[..., Job], size: int) -> None:
    assert job(VALID, limits=Limits(max_bytes=size))


def test_a_file_over_the_size_limit(problems: Callable[..., list[str]]) -> None:
    assert problems(VALID, limits=Limits(max_bytes=len(VALID) - 1)) == [
        f"1:1: is larger than the limit of {len(VALID) - 1} bytes"]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_read_only_up_to_the_limit(problems: Callable[..., list[str]]) -> None:
    assert problems(Path("/dev/zero"), limits=Limits(max_bytes=4096)) == [
        "1:1: is larger than the limit of 4096 bytes"]


def _feed_fifo(path: Path, data: bytes, forever: bool) -> threading.Thread:
    """A writer that sends `data` (again and again if `forever`) until the reader leaves."""

    def run() -> None:
        try:
            with open(path, "wb") as fifo:
                fifo.write(data)
                while forever:
                    fifo.write(data)
        except BrokenPipeError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


NEEDS_FIFO = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")


@NEEDS_FIFO
@pytest.mark.parametrize("forever", [False, True])
def test_a_fifo_over_the_limit_is_refused_without_reading_it_all(
        problems: Callable[..., list[str]], tmp_path: Path, forever: bool) -> None:
    fifo = tmp_path / "job.fifo"
    os.mkfifo(fifo)
    writer = _feed_fifo(fifo, b"# padding\n" * 100, forever)
    assert problems(fifo, limits=Limits(max_bytes=200)) == [
        "1:1: is larger than the limit of 200 bytes"]
    writer.join(timeout=10)
    assert not writer.is_alive()


@NEEDS_FIFO
def test_a_fifo_under_the_limit_loads(tmp_path: Path) -> None:
    fifo = tmp_path / "job.fifo"
    os.mkfifo(fifo)
    writer = _feed_fifo(fifo, VALID.encode(), forever=False)
    assert load(fifo, environ={}).tasks[0].name == "a"
    writer.join(timeout=10)
    assert not writer.is_alive()


@pytest.mark.parametrize(("content", "expected"), [
    ("", "1:1: is empty: a job file needs at least `version: 1` and `tasks:`"),
    ("# only\n# comments\n", "1:1: is empty: a job file needs at least `version: 1` and `tasks:`"),
    ("---\n", "1:1: is empty: a job file needs at least `version: 1` and `tasks:`"),
    ("null\n", "1:1: is empty: a job file needs at least `version: 1` and `tasks:`"),
    ("version: 1\n---\nversion: 1\n",
     "2:1: has several YAML documents (a second `---`); a job file holds exactly one"),
    ("---\n" + VALID + "---\n",
     "6:1: has several YAML documents (a second `---`); a job file holds exactly one"),
    ("- version: 1\n", "1:1: the top level must be a mapping (key: value lines), not a list"),
    ("hello\n", "1:1: the top level must be a mapping (key: value lines), not a string"),
    ("# job\n42\n", "2:1: the top level must be a mapping (key: value lines), not a number"),
    (b"version: 1\nname: \xff\xfe\n" + TASK.encode(), "2:7: is not UTF-8 text"),
    (b"version: 1\nname: a\x01\n" + TASK.encode(),
     "2:8: contains the character #x0001, which YAML does not allow; remove it or write "
     "it escaped"),
    ("version: 1\ntasks: [\n",
     "3:1: invalid YAML: while parsing a flow node, expected the node content, but found "
     "'<stream end>'"),
    ("version: 1\n\tname: x\n",
     "2:1: invalid YAML: while scanning for the next token, found character '\\t' that "
     "cannot start any token"),
    ("version: 1\nname: 'x\n",
     "3:1: invalid YAML: while scanning a quoted scalar, found unexpected end of stream"),
    ("version: 1\n  name: x\n",
     "2:7: invalid YAML: mapping values are not allowed here"),
])
def test_files_that_are_not_one_yaml_mapping(
        problems: Callable[..., list[str]], content: str | bytes, expected: str) -> None:
    assert problems(content) == [expected]


def test_a_byte_order_mark_and_crlf_are_fine(write: Callable[..., Path]) -> None:
    path = write(("\ufeff" + VALID).replace("\n", "\r\n").encode())
    assert load(path, environ={}).tasks[0].name == "a"


@pytest.mark.parametrize(("name", "expected"), [
    ("missing.yml", "1:1: no such file"),
    (".", "1:1: is a directory, not a job file"),
])
def test_unreadable_paths(problems: Callable[..., list[str]], tmp_path: Path, name: str,
                          expected: str) -> None:
    assert problems(tmp_path / name) == [expected]


def test_every_error_of_a_file_at_once_sorted_by_line(
        problems: Callable[..., list[str]]) -> None:
    text = ("version: 1\n"
            "tasks:\n"
            "  - name: a\n"
            "    call: m:f\n"
            "    timeout: fast\n"
            "  - name: a\n"
            "    command: [ls, 1]\n"
            "workers: true\n"
            "mode: on\n"
            "wrkers: 2\n"
            "workers: 3\n")
    assert problems(text) == [
        '5:14: tasks[0].timeout: expected a duration like "30s", "500ms", "1h30m" or a '
        'number of seconds, got "fast" (a string)',
        '6:11: tasks[1].name: duplicate task name "a" (tasks[0] has it); task names must '
        "be unique",
        '7:19: tasks[1].command[1]: expected a string, got 1; quote it if you mean the '
        'text: "1"',
        "8:10: workers: expected an integer, got true (a boolean)",
        '9:7: mode: "on" is ambiguous: YAML 1.1 reads it as a boolean, YAML 1.2 as a '
        'string; write true or false, or quote it: "on"',
        '10:1: wrkers: unknown key "wrkers"; did you mean "workers"?',
        '11:1: workers: duplicate key "workers" (first at line 8)',
    ]
