"""Fixtures for loader tests: write a job file into tmp_path, load it, read its problems.

Problems come back as `line:col: path: message` (the file name dropped, since it
is always the same tmp file) so that tests can state exact positions briefly.
`load` validates with the schema cache of `runner.jobfile.checker`, which builds
the plain classes of `runner.jobfile.job`; every file is also loaded with the
models' own validator and checked as `runner validate` checks it
(`loader.check`), and all three must agree: the same `Job`, or exactly the same
problems.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from runner.errors import JobFileError
from runner.jobfile.checker import models_checker
from runner.jobfile.job import Job
from runner.jobfile.loader import check, load
from runner.jobfile.yamlsafe import DEFAULT_LIMITS, Limits

Problems = Callable[..., list[str]]
Loader = Callable[..., Job]


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Writes text (or bytes) as a job file and returns its path."""

    def write(content: str | bytes, name: str = "job.yml") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    return write


def _load(path: Path, environ: Mapping[str, str] | None, overrides: Iterable[str],
          limits: Limits) -> Job:
    environ = {} if environ is None else environ
    again = path.is_file()  # a FIFO's content can be read once
    try:
        job = load(path, environ=environ, overrides=overrides, limits=limits)
    except JobFileError as failed:
        if again:
            for other in (_by_models, check):
                with pytest.raises(JobFileError) as caught:
                    other(path, environ=environ, overrides=overrides, limits=limits)
                assert caught.value.diagnostics == failed.diagnostics
        raise
    if again:
        assert _by_models(path, environ=environ, overrides=overrides, limits=limits) == job
        check(path, environ=environ, overrides=overrides, limits=limits)
    return job


def _by_models(path: Path, **options: Any) -> Job:
    return load(path, checker=models_checker(), **options)


@pytest.fixture
def job(write: Callable[..., Path]) -> Loader:
    """Loads text that must be valid; an empty environment unless one is given."""

    def job(text: str, *, environ: Mapping[str, str] | None = None,
            overrides: Iterable[str] = (), limits: Limits = DEFAULT_LIMITS) -> Job:
        return _load(write(text), environ, overrides, limits)

    return job


@pytest.fixture
def problems(write: Callable[..., Path]) -> Problems:
    """Loads content that must be invalid and returns every problem, in reported order."""

    def problems(content: str | bytes | Path, *, environ: Mapping[str, str] | None = None,
                 overrides: Iterable[str] = (), limits: Limits = DEFAULT_LIMITS) -> list[str]:
        path = content if isinstance(content, Path) else write(content)
        with pytest.raises(JobFileError) as caught:
            _load(path, environ, overrides, limits)
        return [_short(str(d), str(path)) for d in caught.value.diagnostics]

    return problems


def _short(line: str, file: str) -> str:
    return line[len(file) + 1:] if line.startswith(file + ":") else line
