"""The speed benchmarks: `runner` against its baselines, whole process against whole process.

    .venv/bin/python benchmarks/run.py [--quick] [--only NAME ...] [--rounds N] [--output PATH]

Workloads (see `_workloads.py` and `_output.py`): callables, dask, commands, claims,
latency, memory, startup, logs, output; (`_results.py`) results; (`_pipelines.py`) pipeline,
pipeline-memory, pipeline-overlap.
Everything is generated in a temp dir; approaches alternate round by round in
one invocation and the tables show medians, ratios and the targets the
README's "Speed" section lists. Tables go to stdout as Markdown, progress to stderr,
and the same results with every sample and the machine to
benchmarks/results/latest.json (quick.json under --quick). Missing targets do
not fail the run: the exit code is 1 only when a measurement could not be
made or did less work than it claims.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _output import output
from _pipelines import PIPELINE_WORKLOADS
from _report import Table, machine, markdown, write_json
from _results import results
from _workloads import FULL, QUICK, Context, Settings
from _workloads import WORKLOADS as BASE_WORKLOADS

WORKLOADS = {**BASE_WORKLOADS, "results": results, "output": output, **PIPELINE_WORKLOADS}

RESULTS = Path(__file__).resolve().parent / "results"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and smaller sizes: a smoke test, not a measurement")
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS), metavar="NAME",
                        help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}")
    parser.add_argument("--rounds", type=int,
                        help="rounds of callables, commands and latency "
                             "(start-up and memory keep their own counts)")
    parser.add_argument("--output", type=Path, help="where to write the JSON results")
    return parser.parse_args(argv)


def _settings(args: argparse.Namespace) -> Settings:
    settings = QUICK if args.quick else FULL
    if args.rounds:
        settings = dataclasses.replace(settings, rounds=args.rounds)
    return settings


def _runner_executable() -> str:
    """The `runner` installed next to this Python, so both come from the same environment."""
    beside = Path(sys.executable).parent / "runner"
    found = str(beside) if beside.exists() else shutil.which("runner")
    if found is None:
        sys.exit("benchmarks/run.py: no `runner` executable; install the package first")
    return found


def _compile_runner() -> None:
    """An install writes the package's bytecode; an editable one started with
    PYTHONDONTWRITEBYTECODE set never does, and every start of `runner` would then
    compile its modules from source: timed, that is not what users run."""
    import runner

    compileall.compile_dir(Path(runner.__file__).parent, quiet=1)


def _machine_line() -> str:
    m = machine()
    return (f"machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), "
            f"{m['implementation']} {m['python']}, start method {m['start_method']}, "
            f"{m['platform']}\n")


def _load() -> float | None:
    """The 1-minute load average: a busy machine makes every number noisy, so the results
    record it before and after, and a busy start is said out loud."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _warn_if_busy(load: float | None) -> None:
    cores = os.cpu_count() or 1
    if load is not None and load > cores / 2:
        print(f"warning: load average {load:.1f} on {cores} cores before starting; other "
              "work will inflate the times (ratios suffer less, approaches alternate)",
              file=sys.stderr, flush=True)


def _run_all(names: list[str], ctx: Context) -> dict[str, Table]:
    """Run each workload and print its table as soon as it is done."""
    tables = {}
    for name in names:
        print(f"== {name} ==", file=sys.stderr, flush=True)
        tables[name] = WORKLOADS[name](ctx)
        print(markdown(tables[name]), flush=True)
    return tables


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    settings = _settings(args)
    names = args.only or list(WORKLOADS)
    print(_machine_line(), flush=True)
    _compile_runner()
    load_before = _load()
    _warn_if_busy(load_before)
    with tempfile.TemporaryDirectory(prefix="runner-bench-") as tmp:
        ctx = Context(settings, Path(tmp), sys.executable, _runner_executable())
        ctx.setup()
        tables = _run_all(names, ctx)
    output = args.output or RESULTS / ("quick.json" if settings.quick else "latest.json")
    write_json(output, tables, {**dataclasses.asdict(settings), "workloads": names,
                                "load_before": load_before, "load_after": _load()})
    print(f"results: {output}", file=sys.stderr)
    return 0 if all(table.ok() for table in tables.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
