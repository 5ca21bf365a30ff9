"""The runner's own CPU while long tasks run: what watching them costs (the engine's tick,
and sampling every running task's process tree for its memory twice a second).

    .venv/bin/python benchmarks/sampling_cost.py [--tasks 100] [--seconds 3] [--rounds 3]

Starts `runner run --quiet` on N tasks that sleep (commands: `sleep`; callables: a
sleeping function on a pool of N workers), waits until all N are running (counted
from outside with psutil), then reads the runner process's own CPU time (user +
system, not its children's) over a window of `--seconds` and prints it as a share of
one core. The target is under 5%. Each run is stopped and reaped before the next.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

JOB = """version: 1
name: sampling-cost
workers: {tasks}
tasks:
  - name: "nap{{{{ i }}}}"
    {body}
    foreach: {{i: {{range: [0, {tasks}]}}}}
"""
BODIES = {
    "commands": 'command: ["sleep", "{nap}"]',
    "callables": 'call: naps:nap\n    args: [{nap}]',
}
TASKS = "import time\n\n\ndef nap(seconds):\n    time.sleep(seconds)\n"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args(argv)


def _runner() -> str:
    beside = Path(sys.executable).parent / "runner"
    if not beside.exists():
        sys.exit("benchmarks/sampling_cost.py: no `runner` next to this Python")
    return str(beside)


def _running(runner: psutil.Process, kind: str) -> int:
    """How many tasks run now: sleeps among the runner's descendants, or busy workers."""
    try:
        found = runner.children(recursive=True)
    except psutil.Error:
        return 0
    if kind == "commands":
        return sum(1 for p in found if _name(p) == "sleep")
    return sum(1 for p in found if p.ppid() == runner.pid and _name(p) != "sleep") - 1


def _name(process: psutil.Process) -> str:
    try:
        return str(process.name())
    except psutil.Error:
        return ""


def measure(kind: str, tasks: int, seconds: float, folder: Path) -> float:
    """The runner's CPU over the window, as a share of one core."""
    nap = seconds + 30
    job = folder / f"{kind}.yml"
    job.write_text(JOB.format(tasks=tasks, body=BODIES[kind].format(nap=nap)))
    process = subprocess.Popen([_runner(), "run", str(job), "--quiet", "--journal",
                                str(folder / f"{kind}.jsonl")], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        runner = psutil.Process(process.pid)
        deadline = time.monotonic() + 60
        while _running(runner, kind) < tasks:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"{kind}: {tasks} tasks never ran at once")
            time.sleep(0.2)
        time.sleep(1.0)  # past the start-up burst
        before, began = runner.cpu_times(), time.monotonic()
        time.sleep(seconds)
        after, elapsed = runner.cpu_times(), time.monotonic() - began
        return (after.user + after.system - before.user - before.system) / elapsed
    finally:
        process.terminate()  # the runner stops its tasks and reaps them
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as scratch:
        folder = Path(scratch)
        (folder / "naps.py").write_text(TASKS)
        print(f"| {args.tasks} long tasks, workers {args.tasks} | runner's own CPU "
              f"(median of {args.rounds}) | target |")
        print("|---|---:|---|")
        for kind in BODIES:
            shares = [measure(kind, args.tasks, args.seconds, folder) for _ in range(args.rounds)]
            share = statistics.median(shares)
            spread = ", ".join(f"{s:.1%}" for s in shares)
            mark = "✓" if share < 0.05 else "✗"
            print(f"| {kind} | {share:.1%} of one core ({spread}) | < 5% {mark} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
