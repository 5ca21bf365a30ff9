"""What a pool executor sends a worker, and how to read what comes back.

A message is either a batch of attempts (`Work`, sent as plain tuples, which
pickle several times faster than named ones) or a `Span` of consecutive plan
tasks the worker renders itself. The reply is a list of Outcomes or a
SpanOutcome; either may cover fewer attempts than were sent (the worker was
told to start nothing more, or reached max_tasks_per_worker), and the keys it
did not cover are returned as `declined` for the engine to decide about.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from runner.engine import verdicts
from runner.events import SpanOutcome
from runner.executors.base import Listener
from runner.plan import Span
from runner.worker.child import run_batch
from runner.worker.spans import run_span
from runner.worker.work import Work


def pool_call(message: Span | Sequence[Work]) -> tuple[Callable[..., Any], Any, list[int]]:
    """The function a worker runs, its argument, and the attempt keys it covers."""
    if isinstance(message, Span):
        return run_span, message, list(range(message.key, message.key + message.size))
    return run_batch, [tuple(work) for work in message], [work.key for work in message]


def deliver(listener: Listener, keys: list[int], reply: Any) -> list[int]:
    """Hand a reply to the engine; return the keys the worker declined."""
    if isinstance(reply, BaseException):
        listener.finished([verdicts.unsent(key, reply) for key in keys])
        return []
    if isinstance(reply, SpanOutcome):
        listener.span_finished(reply)
        return keys[reply.done:]
    listener.finished(reply)
    return keys[len(reply):]
