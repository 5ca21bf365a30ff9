"""The pipeline workloads: what `needs` costs, in time, in memory and in waiting.

- pipeline: a two-stage one-to-one pipeline (b-{i} needs a-{i}) of 2 × N trivial
  callables against 2N independent ones, alternated in one run, whole processes;
- pipeline-memory: the runner's peak RSS for 2 × M one-to-one plus a fan-in (one
  task needing every b), which bookkeeping per group keeps flat;
- pipeline-overlap: a-{i} -> b-{i} over 10 inputs, 1 s each, 2 workers: with no
  barrier between the stages it takes about 10 s, not 10 + a stage's tail.

Every run's journal is read back in full before it counts (each task ok once, in a
worker, with its own index squared or exit 0).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from _journal import exited_zero, squared_in_worker
from _measure import Approach, BenchError, Command, Outcome, alternate, succeeded
from _report import Row, Table, check, verdict
from _workloads import (
    CALL_TASK,
    RSS_HOOK,
    WORKERS,
    Context,
    _checked_journal,
    _kib_to_mb,
    _ratio,
    _runner_argv,
    _runner_timed,
    _write_job,
)

CHAIN = '''version: 1
name: {name}
executor: pool
workers: {workers}
mode: async
tasks:
  - name: "a-{{{{ i }}}}"
{a}    foreach: {{i: {{range: [0, {count}]}}}}
  - name: "b-{{{{ i }}}}"
{b}    foreach: {{i: {{range: [0, {count}]}}}}
    needs: ["a-{{{{ i }}}}"]
{tail}'''
INDEXED_CALL = '    call: bench_tasks:square\n    args: ["{{ index }}"]\n'
FAN_IN = '  - name: all\n    call: bench_tasks:square\n    args: ["{{ index }}"]\n' \
         '    needs: ["b-{{ i }}"]\n'
SLEEP = '    command: ["sleep", "1"]\n'
OVERLAP_INPUTS = 10
OVERLAP_IDEAL = 10.0  # 20 task-seconds on 2 workers


def _chain(ctx: Context, name: str, count: int, *, a: str = CALL_TASK, b: str = INDEXED_CALL,
           tail: str = "") -> Path:
    path = ctx.work / f"{name}.yml"
    path.write_text(CHAIN.format(name=name, workers=WORKERS, a=a, b=b, count=count, tail=tail))
    return path


PIPE = "runner run: b-{{i}} needs a-{{i}}, 2 × {n:,} callables"
FLAT = "runner run: {n2:,} independent callables"


def pipeline(ctx: Context) -> Table:
    """The cost of `needs` on the fastest path: trivial callables, spans on."""
    n = 1_000 if ctx.settings.quick else 50_000
    pipe, flat = PIPE.format(n=n), FLAT.format(n2=2 * n)
    approaches = [
        _runner_timed(ctx, pipe, _chain(ctx, "pipeline", n), 2 * n, squared_in_worker),
        _runner_timed(ctx, flat, _write_job(ctx, "flat", CALL_TASK, 2 * n), 2 * n,
                      squared_in_worker),
    ]
    rows = alternate(approaches, ctx.settings.rounds, ctx.work, ctx.settings.timeout)
    check(rows[pipe], _ratio(rows[pipe].median, rows[flat].median), 1.3)
    return Table(f"pipeline: 2 × {n:,} one-to-one against {2 * n:,} independent", "s",
                 "this ÷ the independent tasks", list(rows.values()),
                 [f"medians of {ctx.settings.rounds} round(s), alternated; pool, async, "
                  f"{WORKERS} workers, journal, --quiet; every journal verified"])


def pipeline_memory(ctx: Context) -> Table:
    """Parent peak RSS of 2 × M one-to-one plus a fan-in: per group, never per pair."""
    m = 20_000 if ctx.settings.quick else 500_000
    job = _chain(ctx, "pipeline-memory", m, tail=FAN_IN)
    rss_file, journal = ctx.work / "rss-pipeline.txt", ctx.work / "pipeline-memory.jsonl"
    argv = [ctx.python, "-c", RSS_HOOK, str(rss_file), *_runner_argv(ctx, job, journal)[1:]]

    def score(outcome: Outcome, round_: int) -> float:
        succeeded(outcome)
        _checked_journal(journal, 2 * m + 1, squared_in_worker)
        if not rss_file.exists():
            raise BenchError("the RSS hook wrote nothing")
        return _kib_to_mb(rss_file.read_text())

    name = f"runner run, 2 × {m:,} one-to-one + a fan-in: parent peak RSS"
    rows = alternate([Approach(name, lambda _: Command(argv), score)],
                     ctx.settings.memory_rounds, ctx.work, ctx.settings.timeout)
    verdict(rows[name], rows[name].median, 100.0, strict=True)
    return Table("pipeline memory: runner's own peak RSS", "MB",
                 "none: the target is absolute MB", list(rows.values()),
                 [f"median of {ctx.settings.memory_rounds} round(s); VmHWM of the runner "
                  "process at its exit, workers excluded"])


OVERLAP = f"runner run: a-{{i}} -> b-{{i}}, {OVERLAP_INPUTS} inputs × sleep 1 s, 2 workers"


def pipeline_overlap(ctx: Context) -> Table:
    """Stages are not barriers: the chain flows, so the run takes the tasks' own time."""
    job = _chain(ctx, "pipeline-overlap", OVERLAP_INPUTS, a=SLEEP, b=SLEEP)
    approaches = [_runner_timed(ctx, OVERLAP, job, 2 * OVERLAP_INPUTS, exited_zero)]
    rows = alternate(approaches, ctx.settings.rounds, ctx.work, ctx.settings.timeout)
    ideal = Row(f"ideal: {2 * OVERLAP_INPUTS} × 1 s on {WORKERS} workers", [OVERLAP_IDEAL])
    check(ideal, _ratio(rows[OVERLAP].median, OVERLAP_IDEAL), 1.1)
    return Table("pipeline overlap: a chain that flows", "s", "runner ÷ ideal",
                 [rows[OVERLAP], ideal], [f"median of {ctx.settings.rounds} run(s)"])


PIPELINE_WORKLOADS: dict[str, Callable[[Context], Table]] = {
    "pipeline": pipeline,
    "pipeline-memory": pipeline_memory,
    "pipeline-overlap": pipeline_overlap,
}
