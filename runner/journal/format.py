"""The journal's format: the text of every line, for the runner and the worker alike.

The journal is JSON Lines, one event per line, compact, keys in a fixed order.
Every line is rendered here, so a field is added in one place. With trivial
tasks the runner's own process is the bottleneck while workers sit idle, so an
attempt's per-attempt work (two ISO timestamps and the JSON encoding of the
outcome) is done where the attempt ran, once, as `Fragments` that ride along
in the Outcome; the part that describes the worker process (pid, ppid, name,
host) is made once per worker. The runner then only splices strings. Outcomes
made in the runner (commands, crashes, cancellations) get their fragments
here when their lines are written.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from runner.events import ErrorInfo, JobFinished, JobStarted, Outcome, TaskFinished, TaskStarted

if TYPE_CHECKING:
    from runner.plan import PlannedTask

encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON: the journal is read by programs, and a third fewer bytes is a third less I/O."""

FINISHED_PREFIX = '{"event":"task_finished"'
"""How every task_finished line starts, so a reader can pick them out without parsing."""


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
    """The last whole second stamped, and its text up to the microseconds (with the
    opening quote): consecutive timestamps mostly share it, and formatting only the
    microseconds is several times cheaper. The second and its text are one tuple,
    replaced whole, so that threads formatting at once (Dask's) never pair one second's
    text with another's number."""

    last: tuple[int, str] = (0, '"1970-01-01T00:00:00.')


def stamp(ts: float) -> str:
    """`"2026-11-27T21:33:52.123456+00:00"`: `iso(ts)` as a JSON string, the form every
    task line holds, made in one step."""
    second, head = _Second.last
    micro = round((ts - second) * 1_000_000)
    if not 0 <= micro < 1_000_000:  # another second (or one rounding up into the next)
        second = int(ts)
        micro = round((ts - second) * 1_000_000)
        if micro >= 1_000_000 or ts < 0:
            exact = datetime.fromtimestamp(ts, timezone.utc)
            return f'"{exact.isoformat(timespec="microseconds")}"'
        head = f'"{datetime.fromtimestamp(second, timezone.utc):%Y-%m-%dT%H:%M:%S}.'
        _Second.last = (second, head)
    return f'{head}{micro:06d}+00:00"'


def iso(ts: float) -> str:
    """`2026-11-27T21:33:52.123456+00:00` (UTC, microseconds)."""
    return stamp(ts)[1:-1]


def where(pid: int, ppid: int, process_name: str, host: str) -> str:
    """`"pid":1,"ppid":2,"process_name":"x","host":"y"`: the same for every attempt a
    worker runs, so a worker computes it once."""
    return (f'"pid":{pid},"ppid":{ppid},"process_name":{text(process_name)},'
            f'"host":{text(host)}')


def made(where_text: str, started: float, finished: float, result: str | None,
         exit_code: int | None, error: ErrorInfo | None, stdout: str, stderr: str,
         peak_rss: int = 0, cpu_time: float = 0.0) -> Fragments:
    """The fragments from an outcome's fields, before there is an Outcome to hold them
    (a worker builds the Outcome once, with its fragments in it)."""
    wall = finished - started
    duration = f"{wall:.6f}"  # as round(wall, 6) reads back, at a third of its cost
    tail = ""
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
    cpu = duration if cpu_time == wall else f"{cpu_time:.6f}"  # a short attempt's is its wall
    return Fragments(where_text, stamp(started), stamp(finished),
                     f',"duration":{duration}{tail},"peak_rss":{peak_rss},"cpu_time":{cpu}')


class _Made:
    """The outcome whose fragments were made last, and those: an attempt announced with
    its end has its task_started and task_finished lines written from the same outcome.
    One tuple, replaced whole (see _Ident)."""

    last: tuple[Outcome | None, Fragments | None] = (None, None)


def of(outcome: Outcome) -> Fragments:
    """The outcome's fragments, made now if it came without (a runner-made outcome, or
    one whose status the engine changed after the fact)."""
    if outcome.journal is not None:
        return outcome.journal  # type: ignore[return-value]  # it is a Fragments
    last = _Made.last
    if outcome is last[0] and last[1] is not None:
        return last[1]
    fragments = made(where(outcome.pid, outcome.ppid, outcome.process_name, outcome.host),
                     outcome.started, outcome.finished, outcome.result, outcome.exit_code,
                     outcome.error, outcome.stdout, outcome.stderr, outcome.peak_rss,
                     outcome.cpu_time)
    _Made.last = (outcome, fragments)
    return fragments


def job_started_line(event: JobStarted, pid_created: float | None, resumes: str | None,
                     env: dict[str, Any] | None, logs: str | None = None) -> str:
    """The first line of a run; `resumes` names the run it continues, `env` holds the
    keyed digests of its env values, `logs` the run's folder of whole logs."""
    return encode({"event": "job_started", "ts": iso(event.ts), "job": event.job,
                   "run": event.run_id, "pid": event.pid, "host": event.host,
                   "executor": event.executor, "workers": event.workers, "mode": event.mode,
                   "tasks": event.total, "pid_created": pid_created,
                   **({"resumed": True, "resumes": resumes} if resumes else {}),
                   **({"env": env} if env else {}),
                   **({"logs": logs} if logs else {})}) + "\n"


def started_line(event: TaskStarted, pid_created: float | None = None) -> str:
    """A task_started line. An attempt announced with its end reuses its outcome's
    fragments; one seen running carries its process's `pid_created` (null when unknown)."""
    outcome = event.outcome
    if outcome is not None:  # made now if need be, for its finished line too
        fragments = of(outcome)
        where_text, started = fragments.where, fragments.started
    else:
        where_text = where(event.pid, event.ppid, event.process_name, event.host)
        where_text += f',"pid_created":{"null" if pid_created is None else repr(pid_created)}'
        started = stamp(event.ts)
    ident = _ident(event.task, event.name, event.index, event.values)
    return _started(ident, event.attempt, where_text, started, event.spec_hash,
                    claims_text(event.claims))


def finished_line(event: TaskFinished) -> str:
    """A task_finished line, spliced from the fragments made where the attempt ran."""
    fragments = of(event.outcome)
    retry = f',"retry_in":{event.retry_in!r}' if event.retry_in is not None else ""
    if event.logs is not None:
        retry += f',"stdout_path":{encode(event.logs[0])},"stderr_path":{encode(event.logs[1])}'
    ident = _ident(event.task, event.name, event.index, event.values)
    return _finished(ident, event.attempt, event.final, str.__str__(event.outcome.status),
                     fragments, event.spec_hash, retry + claims_text(event.claims))


def first_try_lines(task: PlannedTask, fragments: Fragments, claims: str = "") -> str:
    """Both lines of a task that ended ok at its first attempt, as a worker running a span
    writes them (with the same text `started_line` and `finished_line` would give);
    `claims` is the entry's `claims_text`."""
    ident = _ident_text(task.id, task.name, task.index, task.values)  # named once: no cache
    return (_started(ident, 1, fragments.where, fragments.started, task.spec_hash, claims)
            + _finished(ident, 1, True, "ok", fragments, task.spec_hash, claims))


def claims_text(claims: dict[str, int] | None) -> str:
    """`,"claims":{"memory":1024}`: what an attempt claims; nothing when it claims nothing."""
    return f',"claims":{encode(claims)}' if claims else ""


def job_finished_line(event: JobFinished) -> str:
    return encode({"event": "job_finished", "ts": iso(event.ts), "counts": event.counts,
                   "exit_code": event.exit_code, "duration": round(event.duration, 6),
                   "interrupted_by": event.interrupted_by}) + "\n"


class _Ident:
    """The last task named, as JSON: an attempt's task_started line is mostly followed by
    its task_finished line, whose events hold the very same values dict. One tuple,
    replaced whole, so threads formatting at once never mix two tasks' fields."""

    last: tuple[Any, int, str, str, str] = (None, -1, "", "", "")


def _ident(task: str, name: str, index: int, values: dict[str, Any]) -> str:
    """The fields naming a task: its id, its name, its place and its foreach values
    (always an object, {} without foreach, so `.values.AXIS` needs no special case)."""
    last = _Ident.last
    if values is last[0] and index == last[1] and task == last[2] and name == last[3]:
        return last[4]
    ident = _ident_text(task, name, index, values)
    _Ident.last = (values, index, task, name, ident)
    return ident


def _ident_text(task: str, name: str, index: int, values: dict[str, Any]) -> str:
    return f'"task":{text(task)},"name":{text(name)},"index":{index},"values":{_values(values)}'


_KEYS: dict[str, str] = {}
"""Each foreach variable's name as a JSON key with its colon: a handful per job."""


def _values(values: dict[str, Any]) -> str:
    """The foreach values as a JSON object: ints and strings, nearly every axis, are
    written here about three times faster than by the encoder, which does the rest."""
    out = "{"
    for key, value in values.items():
        head = _KEYS.get(key)
        if head is None:
            head = _KEYS[key] = text(key) + ":"
        kind = type(value)
        out += ("" if out == "{" else ",") + head + (
            str(value) if kind is int else text(value) if kind is str else encode(value))
    return out + "}"


def _started(ident: str, attempt: int, where_text: str, started: str, spec_hash: str,
             claims: str = "") -> str:
    return (f'{{"event":"task_started","ts":{started},{ident},"attempt":{attempt},'
            f'{where_text},"spec_hash":"{spec_hash}"{claims}}}\n')


def _finished(ident: str, attempt: int, final: bool, status: str, fragments: Fragments,
              spec_hash: str, retry: str) -> str:
    return (f'{{"event":"task_finished","ts":{fragments.finished},{ident},"attempt":{attempt},'
            f'"final":{"true" if final else "false"},"status":"{status}",{fragments.where},'
            f'"started":{fragments.started},"finished":{fragments.finished},'
            f'"spec_hash":"{spec_hash}"{retry}{fragments.tail}}}\n')
