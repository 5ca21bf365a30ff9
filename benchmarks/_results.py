"""The `results` workload: `runner results` on a million-task journal, against `jq`.

The journal is generated here in the runner's own line format (a `task_started`
and a `task_finished` per task, one foreach axis, a result), about 700 MB at a
million tasks, so no million-task run is needed to get one. Each approach writes
its output to a file through `sh -c '... > out'` (never into the harness's
memory), and the file's line count is checked before the time counts: the CSV's
header and a row per task, `jq`'s and the Python pass's one record per task. The
runner's own peak RSS is read as in the memory workload; the target is an
absolute 100 MB.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

from _measure import Approach, BenchError, Command, Outcome, alternate, succeeded
from _report import Row, Table, verdict
from _workloads import RSS_HOOK, Context

TASKS_FULL, TASKS_QUICK = 1_000_000, 20_000
RUNNER_RESULTS = "runner results --format csv"
JQ = """jq -c 'select(.event=="task_finished")'"""
PYTHON_PASS = "python: json.loads each line, re-dump the task_finished ones"
PYTHON_PASS_CODE = """\
import json, sys
out = sys.stdout
for line in open(sys.argv[1], encoding="utf-8"):
    record = json.loads(line)
    if record.get("event") == "task_finished":
        out.write(json.dumps(record, separators=(",", ":")) + "\\n")
"""
TO_FILE = 'out=$1; shift; exec "$@" > "$out"'

_STARTED = ('{{"event":"task_started","ts":"2026-01-01T00:00:00.{i:06d}+00:00",'
            '"task":"item-{{{{ n }}}}[n={i}]","name":"item-{i}","index":{i},'
            '"values":{{"n":{i}}},"attempt":1,"pid":{pid},"ppid":4000,'
            '"process_name":"ForkProcess-{w}","host":"bench","spec_hash":"{h}"}}\n')
_FINISHED = ('{{"event":"task_finished","ts":"2026-01-01T00:00:01.{i:06d}+00:00",'
             '"task":"item-{{{{ n }}}}[n={i}]","name":"item-{i}","index":{i},'
             '"values":{{"n":{i}}},"attempt":1,"final":true,"status":"ok","pid":{pid},'
             '"ppid":4000,"process_name":"ForkProcess-{w}","host":"bench",'
             '"started":"2026-01-01T00:00:00.{i:06d}+00:00",'
             '"finished":"2026-01-01T00:00:01.{i:06d}+00:00","spec_hash":"{h}",'
             '"duration":0.001234,"result":{{"n":{i},"square":{sq},"tags":["a","b"]}}}}\n')


def write_journal(path: Path, count: int) -> None:
    """A finished run of `count` ok tasks, as the runner writes it."""
    spec = "7d1a600971f20f06230347f68c19b86c994372105f13b6d8332358642460c78e"
    with path.open("w", encoding="utf-8") as out:
        out.write('{"event":"job_started","ts":"2026-01-01T00:00:00+00:00","job":"bench",'
                  '"run":"0123456789ab","pid":4000,"host":"bench","executor":"pool",'
                  f'"workers":2,"mode":"async","tasks":{count},"pid_created":1.0}}\n')
        for i in range(count):
            fields = {"i": i, "pid": 4001 + i % 2, "w": 1 + i % 2, "h": spec, "sq": i * i}
            out.write(_STARTED.format(**fields) + _FINISHED.format(**fields))
        out.write('{"event":"job_finished","ts":"2026-01-01T00:00:02+00:00","counts":'
                  f'{{"ok":{count},"failed":0,"timeout":0,"crashed":0,"interrupted":0,'
                  '"cancelled":0},"exit_code":0,"duration":2.0,"interrupted_by":null}\n')


def _lines(path: Path) -> int:
    count = 0
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            count += block.count(b"\n")
    return count


def _approach(name: str, argv: list[str], out: Path, expected: int, skip: str = "",
              after: Callable[[], None] = lambda: None) -> Approach:
    """`argv` with its stdout in `out`, scored by wall time once `out` has `expected`
    lines (and `after` has taken what else the round left)."""
    def score(outcome: Outcome, round_: int) -> float:
        succeeded(outcome)
        try:
            lines = _lines(out)
        finally:
            out.unlink(missing_ok=True)
        if lines != expected:
            raise BenchError(f"wrote {lines:,} lines, expected {expected:,}")
        after()
        return outcome.seconds

    return Approach(name, lambda _: Command(["sh", "-c", TO_FILE, "sh", str(out), *argv]),
                    score, skip)


def results(ctx: Context) -> Table:
    """Time `runner results` against `jq` and a plain Python pass on the same journal."""
    settings, work, python = ctx.settings, ctx.work, ctx.python
    count = TASKS_QUICK if settings.quick else TASKS_FULL
    journal, rss_file = work / "results.jsonl", work / "results-rss.txt"
    write_journal(journal, count)
    peaks: list[float] = []

    def peak_rss() -> None:
        if not rss_file.exists():
            raise BenchError("the RSS hook wrote nothing")
        peaks.append(int(rss_file.read_text()) * 1024 / 1e6)

    runner = _approach(RUNNER_RESULTS, [python, "-c", RSS_HOOK, str(rss_file), "results",
                                        str(journal)], work / "results.csv", count + 1,
                       after=peak_rss)
    jq = shutil.which("jq")
    approaches = [
        runner,
        _approach(JQ, [jq or "jq", "-c", 'select(.event=="task_finished")', str(journal)],
                  work / "results.jq", count, skip="" if jq else "jq not installed"),
        _approach(PYTHON_PASS, [python, "-c", PYTHON_PASS_CODE, str(journal)],
                  work / "results.py.jsonl", count),
    ]
    try:
        rows = alternate(approaches, settings.memory_rounds, work, settings.timeout)
    finally:
        journal.unlink(missing_ok=True)
    ours = rows[RUNNER_RESULTS].median
    for name, row in rows.items():
        if name != RUNNER_RESULTS and ours and row.median:
            row.ratio = ours / row.median
    peak = Row(f"{RUNNER_RESULTS}: peak RSS (MB)", [max(peaks)] if peaks else [])
    verdict(peak, peak.median, 100.0, strict=True)
    return Table(f"results: a {count:,}-task journal to a table", "s",
                 f"{RUNNER_RESULTS} ÷ this approach", [*rows.values(), peak],
                 [f"median of {settings.memory_rounds} round(s), alternated; each output "
                  "written to a file and its line count checked",
                  f"runner's peak RSS per round: {', '.join(f'{p:.1f}' for p in peaks)} MB"
                  if peaks else "no RSS measured",
                  f"median peak RSS {statistics.median(peaks):.1f} MB" if peaks else ""])
