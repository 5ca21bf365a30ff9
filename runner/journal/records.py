"""The JSON text of one attempt's journal record, built where the attempt ran.

Flow: worker -> **records** (JSON fragments ride along in the Outcome) -> journal.

With trivial tasks the runner's own process is the bottleneck and the workers
sit idle, so the per-attempt work of the journal (two ISO timestamps and the
JSON encoding of the outcome) is done in the worker, once per attempt, and the
fragment of the record that describes the worker process (pid, ppid, name,
host) once per worker. The journal then only splices strings. Outcomes made in
the runner (commands, crashes, cancellations) get the same fragments there.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import NamedTuple

from runner.events import ErrorInfo, Outcome

encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON: the journal is read by programs, and a third fewer bytes is a third less I/O."""


class Fragments(NamedTuple):
    """Pieces of an attempt's task_started and task_finished lines, already JSON."""

    where: str
    started: str
    finished: str
    tail: str


def text(value: str) -> str:
    """A JSON string literal; names and ids are mostly plain ASCII, which needs no escaping
    and is quoted here far faster than by the encoder."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return encode(value)


class _Second:
    """The ISO text of the last whole second formatted: consecutive timestamps mostly
    share it, and formatting only the microseconds is several times cheaper."""

    second = -1
    prefix = ""


def iso(ts: float) -> str:
    """`2026-11-27T21:33:52.123456+00:00` (UTC, microseconds)."""
    second = int(ts)
    micro = round((ts - second) * 1_000_000)
    if micro >= 1_000_000 or ts < 0:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds")
    if second != _Second.second:
        _Second.prefix = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _Second.second = second
    return f"{_Second.prefix}.{micro:06d}+00:00"


def where(pid: int, ppid: int, process_name: str, host: str) -> str:
    """`"pid":1,"ppid":2,"process_name":"x","host":"y"`: the same for every attempt a
    worker runs, so a worker computes it once."""
    return (f'"pid":{pid},"ppid":{ppid},"process_name":{encode(process_name)},'
            f'"host":{encode(host)}')


def fragments(outcome: Outcome) -> Fragments:
    text = where(outcome.pid, outcome.ppid, outcome.process_name, outcome.host)
    return made(text, outcome.started, outcome.finished, outcome.result, outcome.exit_code,
                outcome.error, outcome.stdout, outcome.stderr)


def made(where_text: str, started: float, finished: float, result: str | None,
         exit_code: int | None, error: ErrorInfo | None, stdout: str, stderr: str) -> Fragments:
    """The fragments from the outcome's fields, before there is an Outcome to hold them
    (a worker builds the Outcome once, with its fragments in it)."""
    tail = f',"duration":{round(finished - started, 6)!r}'
    if exit_code is not None:
        tail += f',"exit_code":{exit_code}'
    if stdout:
        tail += f',"stdout":{encode(stdout)}'
    if stderr:
        tail += f',"stderr":{encode(stderr)}'
    if error is not None:
        tail += f',"error":{encode(error._asdict())}'
    if result is not None:
        tail += f',"result":{result}'
    return Fragments(where_text, f'"{iso(started)}"', f'"{iso(finished)}"', tail)


def of(outcome: Outcome) -> Fragments:
    """The outcome's fragments, made now if it came without (a runner-made outcome, or
    one whose status the engine changed after the fact)."""
    if outcome.journal is not None:
        return outcome.journal  # type: ignore[return-value]  # it is a Fragments
    return fragments(outcome)
