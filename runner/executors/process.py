"""`executor: process`: one `multiprocessing.Process` per attempt, named after its task.

The seed's first lesson: `Process(target, args, name)`, `start()`, `join()`.
Each child sends its `Outcome` through a pipe and exits. The pipe is read as
data arrives (a large result must not block the child in `send` while the
parent waits for it to exit), and the process sentinel says when it has
exited; an exit without an outcome is a crash of that attempt alone, with
what it wrote before it died, read from its capture files.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from runner.engine import verdicts
from runner.events import Outcome
from runner.executors.base import ExecutorSetup, Running, capture_folder
from runner.executors.slots import resolve_start_method
from runner.system import procs
from runner.worker import capture
from runner.worker.child import attempt_name, process_main
from runner.worker.work import Work


@dataclass
class _Child:
    work: Work
    process: BaseProcess
    connection: Any
    fd: int
    started: float
    outcome: Outcome | None = None
    receiving: bool = True


class ProcessExecutor:
    def __init__(self, setup: ExecutorSetup) -> None:
        import multiprocessing

        self._setup = setup
        self._context: Any = multiprocessing.get_context(resolve_start_method(setup.start_method))
        self._children: dict[int, _Child] = {}
        self._host = socket.gethostname()
        self._capture = capture_folder(setup)

    def submit(self, batch: Sequence[Any]) -> None:
        for work in batch:
            self._start(work)

    def _start(self, work: Work) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(target=process_main, name=work.name,
                                        args=(self._setup.worker, work, sender))
        started = time.time()
        process.start()
        sender.close()
        child = _Child(work, process, receiver, receiver.fileno(), started)
        self._children[work.key] = child
        loop = self._setup.loop
        loop.add_reader(child.fd, lambda: self._receive(child))
        loop.add_reader(process.sentinel, lambda: self._exited(child))

    def _receive(self, child: _Child) -> None:
        """Read the outcome (once); callbacks of one wake-up may arrive after `_exited`."""
        if not child.receiving:
            return
        child.receiving = False
        self._setup.loop.remove_reader(child.fd)
        try:
            child.outcome = child.connection.recv()
        except (EOFError, OSError):
            pass

    def _exited(self, child: _Child) -> None:
        if child.work.key not in self._children:
            return
        del self._children[child.work.key]
        self._setup.loop.remove_reader(child.process.sentinel)
        if child.receiving and child.connection.poll(0):
            self._receive(child)
        child.receiving = False
        self._setup.loop.remove_reader(child.fd)
        child.connection.close()
        child.process.join()
        outcome = child.outcome or self._crashed(child)
        capture.discard(self._capture, attempt_name(child.work.key))
        self._setup.listener.finished([outcome])

    def _crashed(self, child: _Child) -> Outcome:
        output = capture.read_left(self._capture, attempt_name(child.work.key))
        return verdicts.died_alone(child.work.key, child.work.name, child.started,
                                   child.process.pid or 0, child.process.exitcode, output)

    def close(self) -> None:
        """Nothing waits in a queue here: every submitted attempt starts at once."""

    def running(self) -> list[Running]:
        return [Running(key, c.process.pid or 0, os.getpid(), c.work.name, self._host, c.started)
                for key, c in self._children.items()]

    def stop(self, key: int, signum: int) -> None:
        child = self._children.get(key)
        if child is not None and child.process.pid:
            procs.send(procs.tree(child.process.pid), signum)

    def shutdown(self, wait: bool) -> None:
        children = list(self._children.values())
        if not wait:
            procs.kill_trees(child.process.pid for child in children if child.process.pid)
        for child in children:
            child.process.join()
