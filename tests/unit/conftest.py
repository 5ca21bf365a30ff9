"""Fixtures for loader tests: write a job file into tmp_path, load it, read its problems.

Problems come back as `line:col: path: message` (the file name dropped, since it
is always the same tmp file) so that tests can state exact positions briefly.
Every file is also checked as `runner validate` checks it (`loader.check`, the
cached validator of `checker`), which must find exactly the same problems.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pytest

from runner.errors import JobFileError
from runner.loader import check, load
from runner.spec import Job
from runner.yamlsafe import DEFAULT_LIMITS, Limits

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
            with pytest.raises(JobFileError) as checked:
                check(path, environ=environ, overrides=overrides, limits=limits)
            assert checked.value.diagnostics == failed.diagnostics
        raise
    if again:
        check(path, environ=environ, overrides=overrides, limits=limits)
    return job


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
