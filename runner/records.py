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

from runner.events import Outcome

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


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds")


def where(pid: int, ppid: int, process_name: str, host: str) -> str:
    """`"pid":1,"ppid":2,"process_name":"x","host":"y"`: the same for every attempt a
    worker runs, so a worker computes it once."""
    return (f'"pid":{pid},"ppid":{ppid},"process_name":{encode(process_name)},'
            f'"host":{encode(host)}')


def fragments(outcome: Outcome, where_text: str | None = None) -> Fragments:
    text = where_text or where(outcome.pid, outcome.ppid, outcome.process_name, outcome.host)
    tail = [f',"duration":{round(outcome.finished - outcome.started, 6)!r}']
    if outcome.exit_code is not None:
        tail.append(f',"exit_code":{outcome.exit_code}')
    if outcome.stdout:
        tail.append(f',"stdout":{encode(outcome.stdout)}')
    if outcome.stderr:
        tail.append(f',"stderr":{encode(outcome.stderr)}')
    if outcome.error is not None:
        tail.append(f',"error":{encode(outcome.error._asdict())}')
    if outcome.result is not None:
        tail.append(f',"result":{outcome.result}')
    return Fragments(text, encode(iso(outcome.started)), encode(iso(outcome.finished)),
                     "".join(tail))


def with_fragments(outcome: Outcome, where_text: str | None = None) -> Outcome:
    return outcome._replace(journal=fragments(outcome, where_text))


def of(outcome: Outcome) -> Fragments:
    """The outcome's fragments, made now if it came without (a runner-made outcome, or
    one whose status the engine changed after the fact)."""
    if outcome.journal is not None:
        return outcome.journal  # type: ignore[return-value]  # it is a Fragments
    return fragments(outcome)
