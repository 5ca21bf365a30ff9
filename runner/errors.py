"""Every exception `runner` raises on purpose, and the exit code each maps to.

This module imports nothing from `runner`, so any module (the loader, the
engine, a worker process) can raise these without import cycles. The CLI maps
them to exit codes in one place; the codes themselves live here so that the
promise ("0 ok, 1 a task failed, 2 bad input, 3 the runner's environment or the
runner failed, 130/143 interrupted") has exactly one definition.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    OK = 0
    TASK_FAILED = 1
    USAGE = 2
    RUNNER_FAILED = 3
    SIGINT = 130
    SIGTERM = 143


class RunnerError(Exception):
    """Base class: an error the user can act on, printed without a traceback."""

    exit_code: ExitCode = ExitCode.RUNNER_FAILED


class Diagnostic(NamedTuple):
    """One problem in a job file, located the way editors and CI annotate.

    Line 0 means the problem has no place in a file (a `--set` argument)."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class JobFileError(RunnerError):
    """A job file that cannot be used; carries every problem found, not just the first."""

    exit_code = ExitCode.USAGE

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.column, d.path))
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(d) for d in self.diagnostics)


class UsageError(RunnerError):
    """A command line that does not make sense (a bad --set, a missing file)."""

    exit_code = ExitCode.USAGE


class JournalError(RunnerError):
    """The journal cannot be written, locked or read back; the run cannot be trusted."""

    exit_code = ExitCode.RUNNER_FAILED


class LogsError(RunnerError):
    """A task's whole output cannot be kept where `logs:` says; the run cannot be trusted."""

    exit_code = ExitCode.RUNNER_FAILED


class NotAJournal(RunnerError):
    """A journal path that is not a regular file, or a file that holds no journal."""

    exit_code = ExitCode.USAGE


class ResumeError(RunnerError):
    """`--resume` was asked for something the journal cannot support."""

    exit_code = ExitCode.USAGE


class ExecutorUnavailable(RunnerError):
    """An executor's optional dependency is missing or its cluster cannot be reached."""

    exit_code = ExitCode.RUNNER_FAILED
