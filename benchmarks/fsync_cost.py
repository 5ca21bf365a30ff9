"""The cost of `journal_fsync: true` (an fsync after every journal write), measured.

    .venv/bin/python benchmarks/fsync_cost.py [--tasks 2000] [--rounds 5] [--dir PATH]

Runs `runner run --quiet` on N trivial callables with and without fsync, the two
alternating round by round (see _measure.alternate), checks that each journal records
every task ok, and prints the median wall times and their ratio. The journal
goes to a scratch folder under --dir, by default the current directory: /tmp may be
a tmpfs, where fsync costs nothing and the measurement would flatter the option.
It also times a bare write+fsync of one journal-sized line in the same folder, so
the extra time can be read as a number of fsyncs (the journal writes once per
burst of events, not once per line).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _journal import squared_in_worker, verify_journal
from _measure import Approach, Command, Outcome, alternate, succeeded

JOB = """version: 1
name: fsync-cost
tasks:
  - name: "sq{{{{ i }}}}"
    call: tasks:square
    args: ["{{{{ i }}}}"]
    foreach: {{i: {{range: [0, {tasks}]}}}}
"""
TASKS = "def square(n):\n    return n * n\n"
LINE = b'{"event":"task_finished","task":"sq1","status":"ok","result":1}' + b" " * 300 + b"\n"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path.cwd(),
                        help="where the journals go (default: the current directory)")
    return parser.parse_args(argv)


def _approach(runner: str, job: Path, scratch: Path, tasks: int, fsync: bool) -> Approach:
    def command(round_: int) -> Command:
        return Command([runner, "run", str(job), "--quiet", "--journal",
                        str(_journal(scratch, fsync, round_)),
                        "--set", f"journal_fsync={str(fsync).lower()}"])

    def score(outcome: Outcome, round_: int) -> float:
        succeeded(outcome)
        journal = _journal(scratch, fsync, round_)
        verify_journal(journal, tasks, squared_in_worker)
        journal.unlink()
        return outcome.seconds

    return Approach(f"journal_fsync: {str(fsync).lower()}", command, score)


def _journal(scratch: Path, fsync: bool, round_: int) -> Path:
    return scratch / f"journal-{'fsync' if fsync else 'plain'}-{round_}.jsonl"


def bare_fsync_seconds(folder: Path, count: int = 200) -> float:
    """The median time of appending one journal-sized line and fsyncing it."""
    path = folder / "bare-fsync.bin"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    samples = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            os.write(fd, LINE)
            os.fsync(fd)
            samples.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    runner = str(Path(sys.executable).with_name("runner"))
    with tempfile.TemporaryDirectory(prefix="fsync-cost-", dir=args.dir) as folder:
        scratch = Path(folder)
        (scratch / "tasks.py").write_text(TASKS)
        job = scratch / "job.yml"
        job.write_text(JOB.format(tasks=args.tasks))
        rows = alternate([_approach(runner, job, scratch, args.tasks, fsync)
                          for fsync in (False, True)], args.rounds, scratch, timeout=600)
        one_fsync = bare_fsync_seconds(scratch)
    plain, synced = (rows[f"journal_fsync: {v}"].median for v in ("false", "true"))
    for name, row in rows.items():
        print(f"{name:<22} median {row.median or float('nan'):.3f} s  "
              f"samples {', '.join(f'{s:.3f}' for s in row.samples)}  {row.note}")
    if plain is None or synced is None:
        return 1
    extra = synced - plain
    print(f"ratio fsync/plain: {synced / plain:.2f}  ({args.tasks} tasks, "
          f"{extra / args.tasks * 1e6:+.0f} µs per task)")
    print(f"one write+fsync here: {one_fsync * 1e3:.2f} ms, so the extra time is about "
          f"{max(extra, 0) / one_fsync:.0f} fsyncs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
