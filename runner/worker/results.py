"""A command's result, for `result: stdout | json`: its whole stdout, capped.

A command has no return value; a pipeline that passes results along (`as`) can take
its stdout instead: as text (`stdout`, one trailing newline stripped) or parsed
(`json`). More than RESULT_BYTES of it, or stdout that is not JSON under `json`,
fails the task: a result silently cut would be a wrong result.
"""

from __future__ import annotations

import json
from typing import IO

from runner.events import ErrorInfo, Outcome, TaskStatus, amend
from runner.worker.tails import Tail

RESULT_BYTES = 1 << 20


class WholeTail(Tail):
    """A Tail that also keeps the first RESULT_BYTES + 1 bytes of its stream."""

    __slots__ = ("whole",)

    def __init__(self) -> None:
        super().__init__()
        self.whole = bytearray()

    def add(self, chunk: bytes) -> None:
        super().add(chunk)
        if len(self.whole) <= RESULT_BYTES:
            self.whole += chunk[: RESULT_BYTES + 1 - len(self.whole)]


def read_capped(file: IO[bytes]) -> bytes:
    """The first RESULT_BYTES + 1 bytes of a file (one more tells it was too long)."""
    file.seek(0)
    return file.read(RESULT_BYTES + 1)


def with_result(outcome: Outcome, kind: str | None, stdout: bytes) -> Outcome:
    """The outcome of an ok command carrying its result taken from `stdout`; failed when
    that cannot be done. Anything else is left as it is."""
    if kind is None or outcome.status is not TaskStatus.OK:
        return outcome
    if len(stdout) > RESULT_BYTES:
        return _failed(outcome, "ResultTooLarge", f"`result: {kind}` keeps at most "
                       f"{RESULT_BYTES:,} bytes of stdout; the command wrote more")
    text = stdout.decode("utf-8", "replace")
    if kind == "stdout":
        return amend(outcome, result=json.dumps(text.removesuffix("\n")))
    try:
        value = json.loads(text, parse_constant=_not_json)
    except ValueError as exc:
        return _failed(outcome, "ResultNotJson", f"`result: json`, but stdout is not JSON: {exc}")
    return amend(outcome, result=json.dumps(value, separators=(",", ":")))


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _failed(outcome: Outcome, kind: str, message: str) -> Outcome:
    return amend(outcome, status=TaskStatus.FAILED, error=ErrorInfo(kind, message))
