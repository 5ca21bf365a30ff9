"""runner.journal.resume on journals written by hand: trimming a torn tail, what a journal records,
which tasks a resume skips or refuses, and the journal lock within one process."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from runner.errors import JournalError, ResumeError
from runner.jobfile.loader import load
from runner.journal import resume
from runner.plan import Plan
from runner.sinks.journal import Journal

HOST = socket.gethostname()


def lines(*events: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def started(run: str, pid: int = 10, created: float | None = 5.0) -> dict[str, Any]:
    return {"event": "job_started", "run": run, "pid": pid, "pid_created": created,
            "host": HOST}


def finished(task: str, status: str = "ok", final: bool = True,
             spec_hash: str = "h") -> dict[str, Any]:
    return {"event": "task_finished", "task": task, "status": status, "final": final,
            "spec_hash": spec_hash, "result": "x" * 10}


@pytest.mark.parametrize(("content", "kept"), [
    (b"", b""),
    (b'{"a":1}\n', b'{"a":1}\n'),
    (b'{"a":1}\n{"b":', b'{"a":1}\n'),
    (b'{"b":', b""),
    (b'{"a":1}\n' + b"y" * (3 * resume.TAIL_CHUNK + 7), b'{"a":1}\n'),
])
def test_a_torn_tail_is_cut_at_the_last_newline(tmp_path: Path, content: bytes,
                                                  kept: bytes) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_bytes(content)
    with journal.open("rb+") as stream:
        assert resume.trim_torn_tail(stream) == len(content) - len(kept)
    assert journal.read_bytes() == kept


def test_the_latest_final_record_decides_and_retries_do_not_count(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_bytes(lines(
        started("r1"),
        {"event": "task_started", "task": "a", "pid": 11, "pid_created": 6.0, "host": HOST},
        {"event": "task_started", "task": "b", "pid": 12, "pid_created": None, "host": HOST},
        {"event": "task_started", "task": "c", "pid": 13, "pid_created": 7.0, "host": "far"},
        finished("a", "failed", final=False), finished("a", spec_hash="ha"),
        finished("b", "failed"), finished("c"),
        started("r2", pid=10, created=9.0),
        finished("c", "crashed"), finished("b", spec_hash="hb"),
    ) + b'{"torn')
    with journal.open("rb") as stream:
        recorded = resume.read(stream, journal)
    assert recorded.ok == {"a": "ha", "b": "hb"}
    assert recorded.runs == ["r1", "r2"]
    assert recorded.processes == {10: 9.0, 11: 6.0}


def test_a_line_that_is_not_json_in_the_middle_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_bytes(lines(started("r1")) + b"garbage\n" + lines(finished("a")))
    with journal.open("rb") as stream, \
            pytest.raises(ResumeError, match=r"j.jsonl:2: not a JSON line"):
        resume.read(stream, journal)


def _plan(tmp_path: Path, n: int) -> Plan:
    job = tmp_path / "job.yml"
    job.write_text(f"""
version: 1
tasks:
  - {{name: "t{{{{ i }}}}", call: "m:f", args: [{n}, "{{{{ i }}}}"], foreach: {{i: [0, 1, 2]}}}}
""")
    return Plan(load(job))


def test_prepare_skips_ok_tasks_refuses_changed_ones_unless_forced(tmp_path: Path) -> None:
    old = {t.id: t.spec_hash for t in _plan(tmp_path, 1)}
    journal = tmp_path / "j.jsonl"
    ids = sorted(old)
    journal.write_bytes(lines(started("r1", pid=0), finished(ids[0], spec_hash=old[ids[0]]),
                              finished(ids[1], spec_hash=old[ids[1]])) + b'{"torn')
    with journal.open("rb+") as stream:
        same = resume.prepare(journal, stream, _plan(tmp_path, 1), force=False, grace=1.0)
        assert (same.skip, same.remaining, same.resumes, same.dropped_bytes, same.killed) == (
            frozenset(ids[:2]), 1, "r1", 6, [])
        with pytest.raises(ResumeError, match=r"2 task\(s\) recorded ok have a different spec"):
            resume.prepare(journal, stream, _plan(tmp_path, 2), force=False, grace=1.0)
        forced = resume.prepare(journal, stream, _plan(tmp_path, 2), force=True, grace=1.0)
    assert forced.skip == frozenset(ids[:2]) and forced.remaining == 1


def test_a_journal_without_a_run_cannot_be_resumed(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    with pytest.raises(ResumeError, match="no such journal"):
        resume.require(journal)
    journal.write_bytes(b"no newline, so it looks torn")
    with journal.open("rb+") as stream, pytest.raises(ResumeError, match="records no run"):
        resume.prepare(journal, stream, _plan(tmp_path, 1), force=False, grace=1.0)
    assert journal.read_bytes() == b"no newline, so it looks torn", "a file that is not a " \
        "journal is left as it was"


def test_the_lock_refuses_a_second_writer_in_the_same_process(tmp_path: Path) -> None:
    """POSIX locks do not exclude their own process; the journal must, and a refused
    attempt must not release the lock the first writer holds."""
    path = tmp_path / "j.jsonl"
    first = Journal(path)
    try:
        with pytest.raises(JournalError, match=f"in use by another run \\(pid {os.getpid()}\\)"):
            Journal(path)
        assert not (tmp_path / "j.jsonl.lock").exists(), "the journal itself is locked"
    finally:
        first.close()
    Journal(path).close()
