"""`executor: dask`, the runner side: every attempt is a task on a Dask cluster.

    engine --submit--> DaskExecutor --client.submit(execute)--> scheduler --> dask worker
      ^                  ^     ^                                                 | dask_task:
      |                  |     +-- "started" event (topic runner-<run id>) ------+ announce,
      +-- Listener ------+     +-- result, fetched on the client's event loop <--+ mark, run
          (on the loop thread)

This module owns the cluster and client, submits, tracks what runs where,
stops and shuts down; runner.worker.dask_task (and dask_batch) is all that runs
on the workers.

Without `dask.address` a `LocalCluster` of `workers` single-threaded processes
listens on 127.0.0.1 until shutdown; with one, a `Client` connects to it. One
instance serves calls and commands; each submission gets its own key.

- A task announces itself on an event topic, so `running()` (task_started,
  timeouts) costs no round trip.
- A batch of calls (the engine sends short calls several at a time) is one dask
  task; its attempts run in turn and announce themselves as they start (at most
  one event per ANNOUNCE_EVERY), so only the one announced last counts as running,
  and a stop or a death is about that one alone.
- dask cannot tell which task a dead worker was running: what a worker sends
  just before dying is lost, "task finished" included. So each task writes
  its key to a file named after its worker's pid first, and after a
  `KilledWorker` the dead worker's nanny reads it back: that attempt is the
  culprit, the others lost with the worker are orphans the engine reruns free.
- dask cannot interrupt a running Python call. `stop()` ends the worker
  process running it (the attempt's process tree, as `pool` does) through
  its nanny, which starts a fresh one; the loss is blamed on the attempt as
  above. A command is stopped by signalling its session; its task then ends
  normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import logging
import signal
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.engine import verdicts
from runner.errors import ExecutorUnavailable
from runner.events import ErrorInfo, Outcome, amend
from runner.executors.base import Culprit, ExecutorSetup, Loss, Running
from runner.worker.dask_batch import Batch, execute_batch
from runner.worker.dask_task import (
    DaskRun,
    close_run,
    execute,
    forget,
    read_marker,
    signal_tree,
)
from runner.worker.work import CommandWork, Work

CONNECT_TIMEOUT = 5.0
"""Seconds to reach a scheduler: a wrong address fails the run quickly instead of hanging."""
_IMPORT_ERRORS = ("ModuleNotFoundError", "ImportError")


@dataclass
class _Sent:
    """One dask task: an attempt, or a batch of calls run in turn."""

    future: Any
    keys: list[int]
    current: int | None = None  # the attempt announced last, the one running now


@dataclass
class _InFlight:
    """An attempt handed to dask, and what its announcement said about where it runs."""

    work: Work | CommandWork
    sent: _Sent
    seen: Running | None = None
    via: str = ""  # where a stop is sent: the worker's nanny, else the worker itself


class DaskExecutor:
    """Calls and commands as dask tasks; the module docstring has the data flow."""

    def __init__(self, setup: ExecutorSetup) -> None:
        self._setup = setup
        self._dist = _import_distributed()
        self._cluster, self._client = _connect(setup, self._dist)
        self._upload = setup.dask_address is not None and setup.dask_upload
        run_id, folder = setup.worker.run_id, setup.worker.folder
        self._run = DaskRun(run_id, f"runner-{run_id}", None if self._upload else folder)
        self._plugins: list[str] = []
        self._flight: dict[int, _InFlight] = {}
        self._sent: dict[str, _Sent] = {}  # by dask key
        self._serial = itertools.count()
        self._blame: dict[str, asyncio.Future[int | None]] = {}  # dead worker -> its marker
        try:
            if self._upload:
                self._upload_folder(Path(folder))
            self._client.subscribe_topic(self._run.topic, self._on_event)
        except BaseException:
            self._close_client()
            raise

    def submit(self, batch: Sequence[Any]) -> None:
        """One dask task: a single attempt, or several calls."""
        if len(batch) == 1:
            self._send(execute, batch[0], batch)
        else:
            self._send(execute_batch, Batch(batch), batch)

    def _send(self, function: Any, argument: Any, works: Sequence[Any]) -> None:
        key = f"runner-{self._run.run_id}-{works[0].key}-{next(self._serial)}"
        future = self._client.submit(function, argument, self._run, key=key, pure=False)
        sent = self._sent[key] = _Sent(future, [work.key for work in works])
        for work in works:
            self._flight[work.key] = _InFlight(work, sent)
        self._client.loop.add_callback(self._track, sent)

    async def _track(self, sent: _Sent) -> None:
        """On the client's event loop: fetch the result and hand it to the engine's loop.
        Every exception is a result here: the task's error, its cancellation, or a
        `KilledWorker` met while dask recomputes a result lost with its worker."""
        try:
            result = await self._client.gather(sent.future, asynchronous=True)
        except BaseException as exc:
            result = exc
        sent.future.release()  # else dask recomputes it if the worker holding it dies
        running = None
        if isinstance(result, self._dist.KilledWorker):
            running = await self._ran_on(result.last_worker)
        self._setup.loop.call_soon_threadsafe(self._done, sent, result, running)

    def _ran_on(self, dead: Any) -> asyncio.Future[int | None]:
        """What a dead worker was running, read from its marker once for all the attempts
        lost with it (on the client's loop: a dead host must not block the engine)."""
        if dead.address not in self._blame:
            self._blame[dead.address] = asyncio.ensure_future(self._read_marker(dead))
        return self._blame[dead.address]

    async def _read_marker(self, dead: Any) -> int | None:
        try:
            found = await self._client.run(
                read_marker, self._run.run_id, dead.pid, workers=[dead.nanny],
                asynchronous=True, callback_timeout=CONNECT_TIMEOUT) if dead.nanny else {}
        except Exception:
            found = {}
        running: int | None = found.get(dead.nanny)
        return running

    def _on_event(self, event: tuple[float, list[Any]]) -> None:
        self._setup.loop.call_soon_threadsafe(self._started, event[1])

    def _started(self, message: list[Any]) -> None:
        key, pid, ppid, name, host, started, address, nanny, task = message
        flight = self._flight.get(key)
        # not from an older dask task of a requeued attempt; announced again if dask reran
        # this one: stops go to the new one
        if flight is not None and flight.sent.future.key == task:
            since = started if flight.seen is None else flight.seen.started
            flight.seen = Running(key, pid, ppid, name, host, since)
            flight.via = nanny or address
            flight.sent.current = key

    def _done(self, sent: _Sent, result: Any, running: int | None) -> None:
        """Report one finished dask task: its outcomes, and as lost the attempts a batch
        declined (a stop). A `KilledWorker` blames the attempt the dead worker's marker
        names; the others lost with it are orphans. With no marker to read (no nanny),
        each of them is a culprit."""
        keys = [k for k in sent.keys if k in self._flight and self._flight[k].sent is sent]
        if not keys:
            return
        for key in keys:
            del self._flight[key]
        self._sent.pop(sent.future.key, None)
        listener = self._setup.listener
        if isinstance(result, Outcome):
            result = [result]
        if isinstance(result, list):
            listener.finished([self._explained(outcome) for outcome in result])
            declined = [k for k in sent.keys[len(result):] if k in keys]
            if declined:
                listener.lost(Loss([], declined))
        elif isinstance(result, self._dist.KilledWorker):
            pid = result.last_worker.pid
            blamed = [k for k in keys if running is None or running == k]
            listener.lost(Loss([Culprit(k, pid, None) for k in blamed],
                               [k for k in keys if k not in blamed]))
        elif isinstance(result, (CancelledError, asyncio.CancelledError)):
            listener.lost(Loss([], keys))
        else:
            message = (f"dask could not run the attempt: {type(result).__name__}: {result} "
                       "(is the same runner installed on the workers?)")
            listener.finished([verdicts.not_started(k, ErrorInfo("DaskError", message))
                               for k in keys])

    def _explained(self, outcome: Outcome) -> Outcome:
        """An import error on a remote worker, with the rule that decides what it imports."""
        error = outcome.error
        if error is None or error.type not in _IMPORT_ERRORS or self._cluster is not None:
            return outcome
        folder = self._setup.worker.folder
        if self._upload:
            hint = (f"the top-level .py files and packages of {folder} were uploaded; "
                    "anything else a task imports must be installed on the workers")
        else:
            hint = (f"with dask.upload: false, {folder} must be on the workers' PYTHONPATH "
                    f"and it is not on {outcome.host}; or set dask.upload: true")
        return amend(outcome, error=error._replace(message=f"{error.message} ({hint})"))

    def running(self) -> list[Running]:
        """The attempt each dask task runs now: in a batch, those before it have ended; and
        none of a dask task the scheduler says has ended, whose outcomes are on their way."""
        found = (self._flight.get(s.current) for s in self._sent.values()
                 if s.current is not None and not s.future.done())
        return [f.seen for f in found if f is not None and f.seen is not None]

    def stop(self, key: int, signum: int) -> None:
        """Signal the attempt's process tree on its host: a command's session, or for a
        call (which dask cannot interrupt) the worker process running it; that worker's
        death comes back as a `KilledWorker` its marker blames on this attempt. Sent from
        the client's loop, so an unreachable host cannot block the engine. An attempt not
        seen to start is cancelled with its dask task (a batch's others come back lost);
        one that ended inside its batch needs nothing: its outcome comes with the batch."""
        flight = self._flight.get(key)
        if flight is None:
            return
        if flight.seen is None:
            self._client.cancel([flight.sent.future], force=True)
        elif flight.sent.current == key:
            self._client.loop.add_callback(self._signal, flight, signum)

    async def _signal(self, flight: _InFlight, signum: int) -> None:
        assert flight.seen is not None
        with contextlib.suppress(Exception):
            await self._client.run(signal_tree, flight.seen.pid, signum,
                                   isinstance(flight.work, CommandWork), workers=[flight.via],
                                   asynchronous=True, callback_timeout=CONNECT_TIMEOUT)

    def close(self) -> None:
        """Cancel what has not been seen to start, and tell the workers that batches under
        way start nothing more; the engine decides about the rest."""
        waiting = [s.future for s in self._sent.values() if s.current is None]
        if waiting:
            self._client.cancel(waiting, force=True)
        if any(len(s.keys) > 1 for s in self._sent.values() if s.current is not None):
            self._client.loop.add_callback(self._close_batches)

    async def _close_batches(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.run(close_run, self._run.run_id, asynchronous=True,
                                   callback_timeout=CONNECT_TIMEOUT)

    def shutdown(self, wait: bool) -> None:
        """The engine ends a run only when no attempt it waits for is in flight (or, with
        `wait` false, when it gives up on them), so whatever dask still holds is killed,
        never waited for: dask reruns a task whose worker died (the worker a stop ended,
        say), and such a rerun nobody waits for would keep the run, and a remote worker,
        busy for as long as the task takes."""
        futures = [s.future for s in self._sent.values()]
        for sent in self._sent.values():
            flight = self._flight.get(sent.current) if sent.current is not None else None
            if flight is not None and flight.seen is not None:
                self._client.sync(self._signal, flight, signal.SIGKILL)
        if futures:
            self._client.cancel(futures, force=True)
        with contextlib.suppress(Exception):
            self._client.unsubscribe_topic(self._run.topic)
            if self._cluster is None:
                self._client.run(forget, self._run.run_id)
        forget(self._run.run_id)
        self._close_client()

    def _close_client(self) -> None:
        for name in self._plugins:
            with contextlib.suppress(Exception):
                self._client.unregister_worker_plugin(name)
        with contextlib.suppress(Exception):
            self._client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()

    def _upload_folder(self, folder: Path) -> None:
        """Send the job folder's top-level modules and packages to every worker, present and
        future (as worker plugins: a worker its nanny restarts gets them too). The engine
        does not say which modules `call:` names, so every top-level one goes."""
        with tempfile.TemporaryDirectory(prefix="runner-upload-") as scratch:
            for path in _uploadable(folder, Path(scratch)):
                name = f"runner-{self._run.run_id}-{path.name}"
                try:
                    self._client.register_plugin(self._dist.UploadFile(str(path)), name=name)
                except Exception as exc:
                    raise ExecutorUnavailable(
                        f"uploading {path.name} to the dask workers failed: "
                        f"{type(exc).__name__}: {exc} (each worker imports it on upload; "
                        "install what it needs there)") from None
                self._plugins.append(name)


def _uploadable(folder: Path, scratch: Path) -> Iterator[Path]:
    """Top-level .py files as they are; packages zipped (dask puts a zip on sys.path)."""
    for path in sorted(folder.iterdir()):
        if path.suffix == ".py" and path.is_file():
            yield path
        elif (path / "__init__.py").is_file():
            archive = scratch / f"{path.name}.zip"
            with zipfile.ZipFile(archive, "w") as bundle:
                for member in sorted(path.rglob("*.py")):
                    bundle.write(member, member.relative_to(folder))
            yield archive


def _import_distributed() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError as exc:
        raise ExecutorUnavailable("executor: dask needs the dask extra: "
                                  f"pip install 'yaml-job-runner[dask]' ({exc})") from None


def _connect(setup: ExecutorSetup, dist: Any) -> tuple[Any, Any]:
    """A client of the cluster at `dask.address`, or of a new local one (and that cluster)."""
    address = setup.dask_address
    if address is not None:
        try:
            asyncio.run(_probe(dist, address))
            return None, dist.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except Exception as exc:
            raise ExecutorUnavailable(
                f"cannot reach the dask scheduler at {address} within {CONNECT_TIMEOUT:g}s: "
                f"{type(exc).__name__}: {exc} (is `dask scheduler` running there?)") from None
    try:
        with _sigint_ignored():
            # allowed_failures=0: dask must not rerun a task that killed its worker elsewhere;
            # memory_limit=0: no nanny memory kills, as with the other executors;
            # silence_logs: every problem reaches the user as a task's outcome instead;
            # no dashboard, and the scheduler's HTTP routes on a free port, not on 8787.
            cluster = dist.LocalCluster(
                n_workers=setup.workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None, memory_limit=0,
                silence_logs=logging.CRITICAL,
                scheduler_kwargs={"allowed_failures": 0, "dashboard": False,
                                  "dashboard_address": "127.0.0.1:0"})
    except Exception as exc:
        raise ExecutorUnavailable(f"could not start a local dask cluster: "
                                  f"{type(exc).__name__}: {exc}") from None
    return cluster, dist.Client(cluster, set_as_default=False)


async def _probe(dist: Any, address: str) -> None:
    """Connect once before making a Client: a Client that fails to connect hangs for
    10 s when it is garbage collected."""
    comm = await dist.comm.connect(address, timeout=CONNECT_TIMEOUT)
    await comm.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Workers started now inherit SIGINT ignored, so a Ctrl-C at the terminal reaches
    only the runner, which applies `shutdown` (pool workers get this from setpgid)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
