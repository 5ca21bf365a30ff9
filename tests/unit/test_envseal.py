"""Env values in spec hashes: keyed, so a journal and its job file do not give a value
away; `--resume` names the variables whose value changed; the key file is the user's."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from runner.errors import ResumeError, RunnerError
from runner.jobfile.loader import load
from runner.jobfile.spec import Job
from runner.journal import resume
from runner.plan import Plan
from runner.system import envseal

JOB = """
version: 1
defaults: {{env: {{PIN: "${{PIN}}", USER_NAME: alice}}}}
tasks:
  - name: "t{{{{ i }}}}"
    call: m:f
    foreach: {{i: [0, 1]}}
  - {{name: plain, command: ls}}
  - {{name: other, command: ls, env: {{PIN: "${{PIN}}"}}, timeout: {timeout}}}
"""


def _job(tmp_path: Path, pin: str, key: bytes, timeout: int = 5) -> Job:
    path = tmp_path / "job.yml"
    path.write_text(JOB.format(timeout=timeout))
    return load(path, environ={"PIN": pin}).with_env_key(key)


def _journal(tmp_path: Path, plan: Plan, run: str = "r1") -> Path:
    """A journal as a run of `plan` writes it, every task ok."""
    events = [{"event": "job_started", "run": run, "env": plan.env_record()}]
    events += [{"event": "task_finished", "task": t.id, "final": True, "status": "ok",
                "spec_hash": t.spec_hash} for t in plan]
    journal = tmp_path / "j.jsonl"
    journal.write_text("".join(json.dumps(e) + "\n" for e in events))
    return journal


def test_guessing_all_10000_pins_against_the_journal_fails(tmp_path: Path) -> None:
    key = envseal.secret_key(tmp_path / "state")
    secret = "4831"
    journal = _journal(tmp_path, Plan(_job(tmp_path, secret, key)))
    text = journal.read_text()
    assert secret not in text
    recorded = set(json.loads(line)["spec_hash"] for line in text.splitlines()[1:])
    digests = set(json.loads(text.splitlines()[0])["env"]["entries"]["other"]["env"].values())
    template = load(tmp_path / "job.yml", environ={"PIN": "0000"})
    hits = []
    for guess in (f"{n:04d}" for n in range(10_000)):  # all an attacker can do without the key
        plan = Plan(template.model_copy(update={"defaults": template.defaults.model_copy(
            update={"env": {"PIN": guess, "USER_NAME": "alice"}})}))
        entry = plan.entries[0]
        candidates = {entry.hash, entry.legacy_hash(0), entry.spec_hash(0),
                      hashlib.sha256(f"PIN\0{guess}".encode()).hexdigest(),
                      *entry.env_digests.values()}
        if candidates & (recorded | digests):
            hits.append(guess)
    assert hits == []
    with_key = Plan(_job(tmp_path, secret, key))  # the key, and only the key, tells
    assert {t.spec_hash for t in with_key} == recorded


def test_spec_hashes_are_full_sha256_and_stable_for_the_same_key(tmp_path: Path) -> None:
    key = os.urandom(32)
    first = [t.spec_hash for t in Plan(_job(tmp_path, "1", key))]
    assert first == [t.spec_hash for t in Plan(_job(tmp_path, "1", key))]
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in first)
    assert first != [t.spec_hash for t in Plan(_job(tmp_path, "1", os.urandom(32)))]


def test_resume_refused_for_a_changed_pin_names_the_variable(tmp_path: Path) -> None:
    key = os.urandom(32)
    journal = _journal(tmp_path, Plan(_job(tmp_path, "1111", key)))
    same = _prepare(journal, Plan(_job(tmp_path, "1111", key)), force=False, grace=1.0)
    assert same.remaining == 0
    with pytest.raises(ResumeError) as refused:
        _prepare(journal, Plan(_job(tmp_path, "2222", key)), force=False, grace=1.0)
    message = str(refused.value)
    assert "4 task(s) recorded ok have a different spec now: t{{ i }}[i=0], t{{ i }}[i=1], " \
           "plain, other. For 4 of them only the values of env variables changed: PIN." in message
    assert "1111" not in message and "2222" not in message


def test_a_change_beyond_env_is_not_blamed_on_env(tmp_path: Path) -> None:
    key = os.urandom(32)
    journal = _journal(tmp_path, Plan(_job(tmp_path, "1111", key)))
    with pytest.raises(ResumeError) as refused:
        _prepare(journal, Plan(_job(tmp_path, "2222", key, timeout=6)), force=False,
                       grace=1.0)
    assert "4 task(s) recorded ok have a different spec now" in str(refused.value)
    assert "For 3 of them only the values of env variables changed: PIN." in str(refused.value)


def test_a_lost_key_is_said_to_be_why(tmp_path: Path) -> None:
    journal = _journal(tmp_path, Plan(_job(tmp_path, "1111", os.urandom(32))))
    with pytest.raises(ResumeError, match="The secret key that digests env values is not the "
                       "one the earlier run used"):
        _prepare(journal, Plan(_job(tmp_path, "1111", os.urandom(32))), force=False,
                       grace=1.0)


def test_a_journal_with_the_older_unkeyed_hashes_still_resumes(tmp_path: Path) -> None:
    plan = Plan(_job(tmp_path, "1111", os.urandom(32)))
    events = [{"event": "job_started", "run": "old"}]
    events += [{"event": "task_finished", "task": t.id, "final": True, "status": "ok",
                "spec_hash": plan.entries[t.entry].legacy_hash(t.index)} for t in plan]
    journal = tmp_path / "old.jsonl"
    journal.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert _prepare(journal, plan, force=False, grace=1.0).skip == {t.id for t in plan}
    with pytest.raises(ResumeError, match="4 task"):
        _prepare(journal, Plan(_job(tmp_path, "2222", os.urandom(32))), force=False,
                       grace=1.0)


def test_the_key_file_is_made_0600_once_and_reused(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    key = envseal.secret_key(folder)
    assert len(key) == 32 and envseal.secret_key(folder) == key
    assert (folder / "secret-key").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["secret-key"]


def test_a_key_file_that_is_a_link_or_readable_by_others_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    target = tmp_path / "elsewhere"
    target.write_bytes(os.urandom(32))
    target.chmod(0o600)
    (folder / "secret-key").symlink_to(target)
    with pytest.raises(RunnerError, match=r"secret-key: it is a symlink"):
        envseal.secret_key(folder)
    (folder / "secret-key").unlink()
    (folder / "secret-key").write_bytes(os.urandom(32))
    (folder / "secret-key").chmod(0o644)
    with pytest.raises(RunnerError, match=r"can be read by others \(mode 644\)"):
        envseal.secret_key(folder)
    (folder / "secret-key").chmod(0o600)
    os.chown(folder / "secret-key", 12345, -1) if os.geteuid() == 0 else None
    if os.geteuid() == 0:
        with pytest.raises(RunnerError, match="belongs to uid 12345, not to you"):
            envseal.secret_key(folder)


def _prepare(journal: Path, plan: Plan, *, force: bool, grace: float) -> resume.Resumption:
    """`resume.prepare` on the journal opened for reading and writing, as a run does."""
    with open(journal, "rb+") as stream:
        return resume.prepare(journal, stream, plan, force=force, grace=grace)
