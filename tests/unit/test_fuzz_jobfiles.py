"""Mutated job files: whatever a file holds, checking it ends in exit 0 or 2, never in
an exception. Seeded, so a failure names the case that reproduces it; a few hundred
cases, run in-process through `runner validate`'s path and `runner run`'s loading and
planning, and a handful through the real `runner validate`."""

from __future__ import annotations

import contextlib
import io
import itertools
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.errors import JobFileError, UsageError
from runner.jobfile.loader import load
from runner.jobfile.validate import validate_files
from runner.plan import Plan
from tests.conftest import REPO, RUNNER

SEED = 20240610
CASES = 400
SMALL = [
    b"version: 1\ntasks:\n  - {name: a, command: ls}\n",
    b"version: 1\nworkers: 2\nshutdown: {grace: 1s}\ndefaults: {timeout: 5s, env: {A: b}}\n"
    b"tasks:\n  - name: 'x{{ i }}'\n    command: 'echo \"{{ i }}\" > \"{{ i }}.txt\"'\n"
    b"    foreach: {i: {range: [0, 3]}}\n    retries: 2\n",
    b"version: 1\nmax_failures: 10%\ntasks:\n  - name: t\n    call: m:f\n    args: [1, 2.5]\n"
    b"    kwargs: {k: v}\n    foreach: {k: [a, b]}\n",
]
ODD = [b"~", b"!!python/object/apply:os.system ['true']", b"*nowhere", b"&a [*a, *a]", b"yes",
       b"1:30", b"0755", b"{{ nope }}", b"${UNSET_VARIABLE}", b"`touch pwned`", b"'", b'"',
       b"[" * 200 + b"]" * 200, b"{a: " * 80 + b"1" + b"}" * 80, b".nan", b"-.inf", b".NaN",
       b"+.INF", b"1e400", b"1" + b"0" * 309, b"9" * 4301, b"0x" + b"f" * 2000, b"\xd9\xa3",
       b"\xc2\xb2",
       b"\xe3\x80\x80", b"\xe2\x80\xae", b"\xf0\x9f\x92\xa5", b"\xed\xa0\x80", b"\x00", b"\t",
       b"---\n", b"<<: *x", b"? [a]", b"!!binary aGk=", b"|\n  text", b"-1", b"0", b"true"]


def _corpus() -> list[bytes]:
    return [path.read_bytes() for path in sorted((REPO / "jobs").glob("*.yml"))] + SMALL


def _flip(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.choice(b":-{}[]\"'\n #&*!%|>,\\$") if rng.random() < 0.7
                              else rng.randrange(256)]) + data[at + 1:]


def _lines(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    at = rng.randrange(len(lines))
    action = rng.choice(("delete", "duplicate", "swap", "indent"))
    if action == "delete":
        del lines[at]
    elif action == "duplicate":
        lines.insert(at, lines[at])
    elif action == "swap":
        other = rng.randrange(len(lines))
        lines[at], lines[other] = lines[other], lines[at]
    else:
        lines[at] = b" " * rng.choice((1, 2, 3)) + lines[at]
    return b"\n".join(lines)


def _value(rng: random.Random, data: bytes) -> bytes:
    """A scalar after a `: ` (or a whole number anywhere) replaced by an odd one."""
    spots = [i + 2 for i in range(len(data) - 1) if data[i:i + 2] == b": "]
    spots += [i for i in range(len(data)) if data[i:i + 1].isdigit()]
    at = rng.choice(spots) if spots else 0
    end = at
    while end < len(data) and data[end:end + 1] not in b"\n,}]":
        end += 1
    return data[:at] + rng.choice(ODD) + data[end:]


MUTATORS: list[Callable[[random.Random, bytes], bytes]] = [_flip, _lines, _value]


def _mutants() -> list[bytes]:
    rng = random.Random(SEED)
    corpus = _corpus()
    found = []
    for _ in range(CASES):
        data = rng.choice(corpus)
        for _ in range(rng.choice((1, 1, 2, 3))):
            data = rng.choice(MUTATORS)(rng, data) or b" "
        found.append(data)
    return found


def _check_in_process(path: Path) -> int:
    """What `runner validate` and then `runner run --dry-run` do with the file."""
    with contextlib.redirect_stdout(io.StringIO()):
        code = validate_files([path], "text", False)
    assert code in (0, 2)
    try:
        job = load(path)
    except JobFileError:
        assert code == 2, "runner validate passed a file that runner run refuses"
        return code
    try:
        plan = Plan(job)
    except UsageError as exc:  # data files are read when a run starts; none are here
        assert "foreach" in str(exc), exc
        return code
    for task in itertools.islice(plan, 5):
        assert task.id
    return code


def test_mutated_job_files_end_in_exit_0_or_2(tmp_path: Path) -> None:
    codes = []
    for number, data in enumerate(_mutants()):
        path = tmp_path / "job.yml"
        path.write_bytes(data)
        try:
            codes.append(_check_in_process(path))
        except Exception as exc:  # the test's point: anything else is a bug
            pytest.fail(f"case {number} (seed {SEED}): {type(exc).__name__}: {exc}\n{data!r}")
    assert codes.count(2) > CASES // 4 and codes.count(0) > 0  # the mutations do bite


def test_the_real_command_checks_mutants_without_a_traceback(tmp_path: Path) -> None:
    paths = []
    known = [SMALL[0].replace(b"ls}", b"ls, timeout: 1" + b"0" * 309 + b"}"),
             SMALL[0] + b"workers: " + b"9" * 4301 + b"\n"]
    for number, data in enumerate(_mutants()[:: CASES // 8] + known):
        paths.append(tmp_path / f"job{number}.yml")
        paths[-1].write_bytes(data)
    done = subprocess.run([RUNNER, "validate", *map(str, paths)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode in (0, 2)
    assert "Traceback" not in done.stdout + done.stderr
