"""Claims in the job file and in the engine's budget: the rules a file must keep (all
reported at once, each at its line:col), how defaults and a task's own claims merge,
how retries escalate, how the longest-waiting task reserves, and the live guards read
from this machine."""

from __future__ import annotations

from collections.abc import Callable

import psutil

from runner.engine.attempts import Attempt
from runner.engine.claims import Claims, machine_limits
from runner.engine.guards import LiveGuards
from runner.jobfile.claims import entry_claims, show_amount
from runner.jobfile.job import Job
from runner.plan import Plan

Problems = Callable[..., list[str]]

BAD = """\
version: 1
limits: {cpus: 2, memory: 1GiB, gpu: 1}
defaults:
  escalate: {licence: 2}
tasks:
  - name: a
    command: "true"
    resources: {cpu: 1, memory: 2GiB}
    escalate: {memory: 2, gpu: 2}
  - name: b
    command: "true"
    resources: {gpu: 2, gpus: 1, memory: 1GiB}
"""


def test_every_claim_problem_is_reported_at_once_at_its_place(problems: Problems) -> None:
    assert problems(BAD) == [
        '4:23: defaults.escalate.licence: escalates "licence", which no task claims; '
        "claim it in `resources` (claimed here: cpu, gpu, gpus, memory)",
        '8:22: tasks[0].resources.cpu: unknown resource "cpu"; did you mean "cpus"? A task '
        "claims cpus, memory or a counter that `limits` declares (here: cpus, gpu, memory)",
        "8:33: tasks[0].resources.memory: claims 2GiB memory but limits.memory is 1GiB; the "
        "task could never start: lower the claim or raise limits.memory",
        '9:32: tasks[0].escalate.gpu: escalates "gpu", which the task does not claim; claim '
        "it in `resources` (claimed here: cpu, memory)",
        "12:22: tasks[1].resources.gpu: claims 2 gpu but limits.gpu is 1; the task could "
        "never start: lower the claim or raise limits.gpu",
        '12:31: tasks[1].resources.gpus: unknown resource "gpus"; did you mean "gpu"? A task '
        "claims cpus, memory or a counter that `limits` declares (here: cpus, gpu, memory)",
    ]


def test_claims_against_defaulted_limits_and_bad_sizes_are_left_to_their_own_checks(
        problems: Problems) -> None:
    text = ("version: 1\ntasks:\n  - name: a\n    command: x\n"
            "    resources: {cpus: 100000, memory: 2XB}\n")
    assert problems(text) == ['5:39: tasks[0].resources.memory: expected a size like '
                              '"512MiB", "4GiB", "1.5GB" or a number of bytes (at most '
                              '4EiB), got "2XB" (a string)']


MERGED = """\
version: 1
limits: {cpus: 8, memory: 1GiB, db: 3}
defaults:
  resources: {cpus: 2, db: 1}
  escalate: {memory: 3}
tasks:
  - name: own
    command: x
    resources: {cpus: 1, memory: 100MiB}
    escalate: {cpus: 2}
  - name: inherits
    command: x
  - name: first
    command: x
    resources: {cpus: 4}
"""


def test_a_task_claims_merge_over_the_defaults_key_by_key(job: Callable[..., Job]) -> None:
    assert entry_claims(job(MERGED)) == [{"cpus": 1, "db": 1, "memory": 100 * 2**20},
                                 {"cpus": 2, "db": 1}, {"cpus": 4, "db": 1}]


def test_retries_escalate_each_claim_named_up_to_its_limit(job: Callable[..., Job]) -> None:
    claims = Claims(job(MERGED))
    assert [claims.claim(0, n) for n in (1, 2, 3, 5)] == [
        {"cpus": 1, "db": 1, "memory": 100 * 2**20},
        {"cpus": 2, "db": 1, "memory": 300 * 2**20},
        {"cpus": 4, "db": 1, "memory": 900 * 2**20},
        {"cpus": 8, "db": 1, "memory": 2**30}]
    assert claims.claim(1, 4) == {"cpus": 2, "db": 1}  # escalate of memory: none claimed


def test_the_longest_waiting_task_reserves_what_it_needs(job: Callable[..., Job]) -> None:
    loaded = job(MERGED)
    claims, plan = Claims(loaded), Plan(loaded)
    tasks = list(plan)
    claims.take(1, claims.claim(1))  # cpus 2, db 1: 6 CPUs and 2 dbs left
    claims.take(2, claims.claim(1))  # 4 CPUs, 1 db left
    big = Attempt(3, tasks[2], 1, 2)  # wants 4 CPUs and a db: fits, until a CPU goes
    claims.take(9, {"cpus": 1})
    assert not claims.fits(claims.claim(2))
    claims.park(big)
    assert claims.unpark(lambda attempt: True) is None  # it reserves 4 CPUs and a db
    assert not claims.fits({"cpus": 1})  # 3 CPUs free, all reserved
    assert claims.fits({"memory": 2**20})  # what it does not claim is not reserved
    claims.give_back(9)
    assert claims.unpark(lambda attempt: True) is big
    assert not claims.waiting and not claims.fits({"db": 1})


def test_a_job_without_claims_has_no_budget(job: Callable[..., Job]) -> None:
    claims = Claims(job("version: 1\ntasks:\n  - name: a\n    command: x\n"))
    assert not claims.enabled and claims.fits(claims.claim(0, 3))


def test_limits_default_to_this_machine() -> None:
    limits = machine_limits()
    assert limits["memory"] == psutil.virtual_memory().total
    assert 1 <= limits["cpus"] <= (psutil.cpu_count() or 1)


def test_live_guards_hold_while_the_machine_is_short_and_say_why_once() -> None:
    said: list[str] = []
    short = LiveGuards(psutil.virtual_memory().total + 1, None, said.append)
    assert short.holding() and short.holding()
    assert len(said) == 1 and said[0].startswith("runner: holding back new tasks: ")
    assert said[0].endswith(" of memory available, below admission.min_free_memory "
                            f"{show_amount('memory', psutil.virtual_memory().total + 1)}")
    roomy = LiveGuards(1, 1_000_000.0, said.append)
    assert not roomy.holding() and len(said) == 1


def test_messages_may_wait_in_flight_when_no_more_can_run_at_once(
        job: Callable[..., Job]) -> None:
    """With two runners, three messages claiming 2 CPUs of 4 may be in flight: no more
    than two of them run at once. A larger claim must fit with the largest others."""
    loaded = job(MERGED)  # entry 1 claims cpus 2 and db 1, of cpus 8 and db 3
    two, unbounded = Claims(loaded, runners=2), Claims(loaded)
    for claims in (two, unbounded):
        claims.take(1, {"cpus": 4})
        claims.take(2, {"cpus": 4})
    assert two.fits({"cpus": 4}) and not unbounded.fits({"cpus": 1})
    two.take(3, {"cpus": 4})
    assert not two.fits({"cpus": 5})  # it could run beside one of the 4s: 9 > 8
    two.give_back(1)
    two.give_back(2)
    assert two.fits({"cpus": 4}) and not two.fits({"cpus": 5})


def test_an_unknown_counter_without_a_near_name_and_a_bad_name_say_it_once(
        problems: Problems) -> None:
    text = ("version: 1\ntasks:\n  - name: a\n    command: x\n"
            "    resources: {zzz: 1, 9lives: 1}\n")
    found = problems(text)
    assert found[0] == ('5:22: tasks[0].resources.zzz: unknown resource "zzz". A task claims '
                        "cpus, memory or a counter that `limits` declares (here: cpus, memory)")
    assert len(found) == 2 and found[1].startswith(
        "5:33: tasks[0].resources.9lives: expected a name of letters")
