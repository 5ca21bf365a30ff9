"""What `executor: dask` costs per task, against a raw `client.map` on the same cluster.

    .venv/bin/python benchmarks/dask_overhead.py [--tasks 2000] [--rounds 3] [--workers 2]

One LocalCluster (single-threaded worker processes on 127.0.0.1) serves both sides:
- baseline: `client.gather(client.map(square, range(N), pure=False))` from this process;
- runner: `runner run job.yml --executor dask --set dask.address=...` as a subprocess,
  N trivial calls, every one journaled with its pid. Its fixed cost (interpreter start,
  imports, connecting, uploading the job's module) is measured with a one-task job
  and subtracted, so the per-task figure is what each extra task costs.
The runner side runs twice: with the engine's default backlog (2 x workers attempts in
flight) and with `backlog: 64`, because dask's per-task round trips need more work in
flight than a local pool does. Rounds alternate; medians are printed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RUNNER = str(Path(sys.executable).with_name("runner"))
JOB = """\
version: 1
executor: dask
workers: {workers}
{backlog}
tasks:
  - name: "sq{{{{ i }}}}"
    call: bench_tasks:square
    args: ["{{{{ i }}}}"]
    foreach:
      i: {{range: [0, {tasks}]}}
"""


def square(n: int) -> int:
    return n * n


def _runner_seconds(folder: Path, address: str, tasks: int, workers: int,
                    backlog: int | None) -> float:
    job = folder / f"job-{tasks}-{backlog}.yml"
    job.write_text(JOB.format(workers=workers, tasks=tasks,
                              backlog=f"backlog: {backlog}" if backlog else ""))
    began = time.perf_counter()
    done = subprocess.run([RUNNER, "run", str(job), "--set", f"dask.address={address}",
                           "--journal", str(folder / "journal.jsonl"), "--quiet"],
                          cwd=folder, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"runner run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    (folder / "journal.jsonl").unlink()
    return elapsed


def _map_seconds(client: Any, tasks: int) -> float:
    began = time.perf_counter()
    results = client.gather(client.map(square, range(tasks), pure=False))
    elapsed = time.perf_counter() - began
    assert results == [n * n for n in range(tasks)]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    dist: Any = importlib.import_module("distributed")  # the dask extra, typed loosely
    samples: dict[str, list[float]] = {"map": [], "fixed": [], "default": [], "backlog 64": []}
    with tempfile.TemporaryDirectory(prefix="dask-bench-") as scratch, \
            dist.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                              host="127.0.0.1", dashboard_address=None,
                              scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                              silence_logs=logging.ERROR) as cluster, \
            dist.Client(cluster) as client:
        folder = Path(scratch)
        (folder / "bench_tasks.py").write_text("def square(n):\n    return n * n\n")
        _map_seconds(client, 100)  # warm the workers up
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr)
            samples["map"].append(_map_seconds(client, args.tasks))
            samples["fixed"].append(_runner_seconds(folder, cluster.scheduler_address, 1,
                                                    args.workers, None))
            for name, backlog in (("default", None), ("backlog 64", 64)):
                samples[name].append(_runner_seconds(folder, cluster.scheduler_address,
                                                     args.tasks, args.workers, backlog))
    _print(samples, args.tasks, args.workers)


def _print(samples: dict[str, list[float]], tasks: int, workers: int) -> None:
    median = {name: statistics.median(values) for name, values in samples.items()}
    raw = median["map"] / tasks
    print(f"{tasks} trivial tasks on a LocalCluster of {workers} single-threaded workers "
          f"(medians of {len(samples['map'])} rounds)")
    print(f"  client.map + gather:      {median['map']:7.2f} s   {raw * 1e3:6.3f} ms/task")
    print(f"  runner run, fixed cost:   {median['fixed']:7.2f} s   (a one-task job)")
    for name in ("default", "backlog 64"):
        per_task = (median[name] - median["fixed"]) / (tasks - 1)
        print(f"  runner run, {name + ':':<13} {median[name]:7.2f} s   {per_task * 1e3:6.3f} "
              f"ms/task   ratio to client.map {per_task / raw:5.2f}x")


if __name__ == "__main__":
    main()
