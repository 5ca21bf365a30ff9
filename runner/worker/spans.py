"""The worker's side of spans (see runner.engine.spans): render a span's tasks from this
worker's own copy of the plan, run them, and send back the ones that ended ok as finished
journal lines only.
"""

from __future__ import annotations

from runner.events import OkRow, Outcome, SpanOutcome, TaskStatus
from runner.journal.format import claims_text, first_try_lines
from runner.plan import Plan, Span
from runner.worker.child import State, run_one
from runner.worker.work import Work


def run_span(span: Span) -> SpanOutcome:
    """Pool entry point for a span: render its tasks from this worker's copy of the plan,
    run them, and send back the ones that ended ok as finished journal lines only.

    This is what makes a hundred thousand trivial tasks cheap: the runner renders,
    pickles and journals nothing per task that ended ok; it adds up a count and writes
    text (and, for a console that prints each task, a compact row per task, which it
    formats without building events). Stops early, like `run_batch`, when the runner
    closed the pool."""
    if State.plan is None:
        State.plan = Plan(State.job)
    entry = State.plan.entries[span.entry]
    claims = claims_text(entry.claims)
    lines: list[str] = []
    others: list[Outcome] = []
    rows: list[OkRow] | None = [] if State.rows else None
    slots, done, seconds = State.slots, 0, 0.0
    for i in range(span.size):
        if slots is not None and slots[State.closed_flag]:
            break
        task = entry.render_at(span.offset + i, span.first + i)
        key = span.key + i
        outcome = run_one(Work(key, task.call, task.args, task.kwargs, task.env, task.cwd,
                               task.name))
        done += 1
        took = outcome.finished - outcome.started
        seconds += took
        if outcome.status is not TaskStatus.OK:
            others.append(outcome)
            continue
        lines.append(first_try_lines(task, outcome.journal,  # type: ignore[arg-type]
                                     claims))
        if rows is not None:
            rows.append((i, task.id, task.name, outcome.pid, outcome.ppid, took,
                         outcome.result, outcome.stdout, outcome.stderr))
    return SpanOutcome(span.key, done, done - len(others), "".join(lines), others, seconds,
                       rows or ())
