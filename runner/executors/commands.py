"""Command tasks, spawned straight from the runner: no Python worker in between.

A list runs as argv, a string under `/bin/sh -c`. Each command gets its own
session (so a Ctrl-C at the terminal reaches only the runner, which decides),
stdin from /dev/null, and pipes for stdout and stderr whose tails are kept
(with `logs:`, its log files instead: see runner.journal.logfiles). Commands
start through `procs.spawn` (posix_spawn where it can). On Linux a pidfd
says when a command exits; elsewhere the engine's tick polls. When the
command exits, whatever it left running in its process group is killed: a
task ends with its processes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import time
from collections.abc import Sequence
from typing import Any

from runner.engine import verdicts
from runner.events import (
    ErrorInfo,
    Outcome,
    TaskStatus,
    command_status,
    death_error,
    spawn_error,
)
from runner.executors.base import ExecutorSetup, Running
from runner.journal import logfiles
from runner.system import procs, usage
from runner.worker.results import RESULT_BYTES, WholeTail, with_result
from runner.worker.tails import Tail
from runner.worker.work import CommandWork, command_argv

_READ_SIZE = 65536


class _Command:
    """A command running: its work, its process and what it has written so far."""

    __slots__ = ("child", "name", "pidfd", "pipes", "started", "stderr", "stdout", "work")

    def __init__(self, work: CommandWork, child: procs.Child, started: float,
                 name: str) -> None:
        self.work = work
        self.child = child
        self.started = started
        self.name = name
        self.pipes: dict[int, Tail] = {}
        self.pidfd: int | None = None
        self.stdout = Tail()
        self.stderr = Tail()


class CommandExecutor:
    def __init__(self, setup: ExecutorSetup) -> None:
        self._setup = setup
        self._commands: dict[int, _Command] = {}
        self._host = socket.gethostname()
        self._pid = os.getpid()  # asked once: getpid is a system call every time
        self._base_env = {**os.environ, procs.RUN_MARKER_ENV: setup.worker.run_id}
        self._poll_timer: Any = None
        self._mark = usage.HighWater()

    def submit(self, batch: Sequence[Any]) -> None:
        for work in batch:
            self._spawn(work)

    def _spawn(self, work: CommandWork) -> None:
        argv, name = command_argv(work.command)
        env = {**self._base_env, **work.env} if work.env else self._base_env
        out_r, out_w, err_r, err_w = _outputs(work)
        started = time.time()
        failure: OSError | None = None
        try:
            child = procs.spawn(argv, env, work.cwd, out_w, err_w)
        except OSError as exc:
            failure = exc
        finally:  # the child has its own copies; closed once, before anything reuses them
            os.close(out_w)
            os.close(err_w)
        if failure is not None:
            for fd in (out_r, err_r) if out_r >= 0 else ():
                os.close(fd)
            # this may start the next command at once, with the numbers just freed
            self._setup.listener.finished([_unstarted(work, started, failure)])
            return
        command = _Command(work, child, started, name)
        if out_r >= 0:
            if work.result is not None:
                command.stdout = WholeTail()
            command.pipes = {out_r: command.stdout, err_r: command.stderr}
        self._commands[work.key] = command
        loop = self._setup.loop
        for fd in command.pipes:
            os.set_blocking(fd, False)
            loop.add_reader(fd, functools.partial(self._read, command, fd))
        command.pidfd = _pidfd(child.pid)
        if command.pidfd is not None:
            loop.add_reader(command.pidfd, lambda: self._exited(command))
        else:
            self._schedule_poll()

    def _read(self, command: _Command, fd: int, final: bool = False) -> None:
        """Read what is there and keep the last bytes; at end of file (or, `final`, once
        the command has exited) stop watching the pipe."""
        if fd not in command.pipes:
            return
        tail = command.pipes[fd]
        while True:
            try:
                chunk = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                if not final:
                    return
                chunk = b""
            except OSError:
                chunk = b""
            if not chunk:
                break
            tail.add(chunk)
        del command.pipes[fd]
        self._setup.loop.remove_reader(fd)
        os.close(fd)

    def _schedule_poll(self) -> None:
        if self._poll_timer is None:
            self._poll_timer = self._setup.loop.call_later(0.02, self._poll)

    def _poll(self) -> None:
        self._poll_timer = None
        for command in list(self._commands.values()):
            if command.child.poll() is not None:
                self._exited(command)
        if self._commands:
            self._schedule_poll()

    def _exited(self, command: _Command) -> None:
        if command.work.key not in self._commands:
            return
        # before reaping: until then the PID (and so the group's id) cannot be reused
        procs.killpg(command.child.pid, signal.SIGKILL)
        code = command.child.wait()
        finished = time.time()
        if command.pidfd is not None:
            self._setup.loop.remove_reader(command.pidfd)
            os.close(command.pidfd)
        for fd in list(command.pipes):
            self._read(command, fd, final=True)
        del self._commands[command.work.key]
        self._setup.listener.finished([self._outcome(command, code, finished)])

    def _outcome(self, command: _Command, code: int, finished: float) -> Outcome:
        error: ErrorInfo | None
        if code == procs.LOST_STATUS:
            status, error = TaskStatus.CRASHED, death_error(None, command.child.pid, "command")
        else:
            status, error = command_status(code, command.child.pid, command.name)
        peak_rss, cpu_time = usage.reaped(command.child.usage, self._mark)
        outcome = Outcome(command.work.key, status, command.started, finished,
                          command.child.pid, self._pid, command.name, self._host,
                          exit_code=None if code == procs.LOST_STATUS else code, error=error,
                          stdout=command.stdout.text(), stderr=command.stderr.text(),
                          peak_rss=peak_rss, cpu_time=cpu_time)
        return with_result(outcome, command.work.result, _whole_stdout(command))

    def close(self) -> None:
        """Nothing waits in a queue here: every submitted attempt starts at once."""

    def running(self) -> list[Running]:
        return [Running(key, c.child.pid, self._pid, c.name, self._host, c.started)
                for key, c in self._commands.items()]

    def stop(self, key: int, signum: int) -> None:
        command = self._commands.get(key)
        if command is None:
            return
        # the session first, in one step: signalled one by one, a shell whose child dies
        # first can finish its script (and exit 0) before its own signal arrives
        members = procs.tree(command.child.pid)
        procs.killpg(command.child.pid, signum)
        procs.send(procs.outside_group(members, command.child.pid), signum)  # the rest, once

    def shutdown(self, wait: bool) -> None:
        """Every command is signalled before any is reaped, and one that cannot be reaped
        does not keep the others alive."""
        commands = list(self._commands.values())
        if not wait:
            for command in commands:
                self.stop(command.work.key, signal.SIGKILL)
        for command in commands:
            with contextlib.suppress(OSError):
                self._exited(command)


def _outputs(work: CommandWork) -> tuple[int, int, int, int]:
    """The read and write ends of the command's stdout and stderr: two pipes whose tails
    the runner keeps, or, with `logs:`, its two log files and nothing to read (-1): the
    command writes its whole output there itself and the tails are read back at its end."""
    if work.logs is not None:
        out, err = logfiles.open_pair(work.logs)
        return -1, out, -1, err
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    return out_r, out_w, err_r, err_w


def _whole_stdout(command: _Command) -> bytes:
    """What `result:` reads: the stdout kept from the pipe, or the head of the log file
    the command wrote itself (with `logs:`)."""
    if isinstance(command.stdout, WholeTail):
        return bytes(command.stdout.whole)
    if command.work.result is not None and command.work.logs is not None:
        return logfiles.head(logfiles.paths(command.work.logs)[0], RESULT_BYTES + 1)
    return b""


def _unstarted(work: CommandWork, started: float, exc: OSError) -> Outcome:
    program = work.command if isinstance(work.command, str) else work.command[0]
    code, error = spawn_error(program, exc)
    return verdicts.not_started(work.key, error, started, code)


_PIDFD_OPEN = getattr(os, "pidfd_open", None)


def _pidfd(pid: int) -> int | None:
    if _PIDFD_OPEN is None:
        return None
    try:
        return int(_PIDFD_OPEN(pid))
    except OSError:
        return None
