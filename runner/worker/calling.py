"""What running one call involves, apart from running it: finding the callable, giving the
task its working directory and environment, turning its result or its exception into
text, and ending what it left running (its output is `capture`'s).

Everything here runs in a worker process, once per attempt, so it is kept cheap: nothing
is touched for a task with no env or cwd of its own,
and the common result types are encoded without the JSON encoder.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runner.events import ErrorInfo
from runner.journal import format

if TYPE_CHECKING:
    from runner.worker.work import Work

from runner.worker.tails import TAIL_BYTES

_callables: dict[str, Callable[..., Any]] = {}


def forget_callables() -> None:
    """A process adopted by a new run (a dask worker) must not call an older run's code."""
    _callables.clear()


def resolve(target: str) -> Callable[..., Any]:
    function = _callables.get(target)
    if function is None:
        module_name, _, attribute = target.partition(":")
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
        if not callable(found):
            raise TypeError(f"{target} is a {type(found).__name__}, not a callable")
        function = _callables[target] = found
    return function


def encode_result(value: object) -> str:
    kind = type(value)
    if kind is int or value is None or kind is bool:
        return "null" if value is None else ("true" if value is True else
                                              "false" if value is False else str(value))
    if kind is str:
        return format.text(value)  # type: ignore[arg-type]
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ResultNotJSON(
            f"the task returned {type(value).__name__}, which is not a JSON value ({exc}); "
            "return str, int, float, bool, None, or lists and dicts of them"
        ) from None


class ResultNotJSON(TypeError):
    """A task's return value cannot be written to the journal."""


def exit_code_of(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def error_of(exc: BaseException) -> ErrorInfo:
    """The exception as a record: its type named as code would import it (the runner's
    own `ResultNotJSON` by its bare name, which does not depend on where it is defined)."""
    kind = type(exc)
    name = _name(kind)
    try:
        message = str(exc)
    except Exception:  # an exception whose __str__ fails still fails only its task
        message = f"<{name} whose message cannot be shown>"
    try:
        text = "".join(traceback.format_exception(kind, exc, exc.__traceback__))
    except Exception:
        text = ""
    return ErrorInfo(name, message, text[-TAIL_BYTES:])


def kinds_of(exc: BaseException) -> tuple[str, ...]:
    """The names of the exception's class and its bases, as `error_of` names a class, so a
    failure rule matches a base class in the runner without importing anything."""
    return tuple(_name(kind) for kind in type(exc).__mro__ if kind is not object)


def _name(kind: type) -> str:
    if kind.__module__ == "builtins" or kind is ResultNotJSON:
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


_Saved = tuple[str | None, dict[str, str | None]]
_NO_ENV: dict[str, str | None] = {}


def enter(work: Work) -> _Saved:
    """Point cwd and env at the task's; remember what to restore.

    The chdir comes first: if it fails, nothing has been changed yet."""
    saved_cwd = None
    if work.cwd is not None:
        saved_cwd = os.getcwd()
        os.chdir(work.cwd)
    saved_env = _NO_ENV
    if work.env:
        saved_env = {name: os.environ.get(name) for name in work.env}
        os.environ.update(work.env)
    return saved_cwd, saved_env


def leave(saved: _Saved) -> None:
    cwd, env = saved
    if cwd is not None:
        with contextlib.suppress(OSError):
            os.chdir(cwd)
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def end_leftovers() -> None:
    """Kill what the task started and left running: a task ends with its processes.

    One `waitpid` tells whether there is anything to do, so tasks that start no
    processes pay a single system call."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            break
    import psutil

    from runner.system.procs import wait_gone

    leftovers = psutil.Process().children(recursive=True)
    for child in leftovers:
        with contextlib.suppress(psutil.Error):
            child.kill()
    wait_gone(leftovers, timeout=2.0)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    pids = ", ".join(str(p.pid) for p in leftovers)
    with contextlib.suppress(Exception):  # the task's stderr, whatever it made of it
        sys.stderr.write(f"\n[runner] killed {len(leftovers)} process(es) the task left "
                         f"running: {pids}\n")
