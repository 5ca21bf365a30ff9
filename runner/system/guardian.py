"""A tiny supervisor per run that ends the run's processes if the runner dies.

Flow: api.run -> **guardian** (started before the engine, told "done" after it).

    runner --stdin pipe--> guardian (own session, no run marker, no children)
       |                      |  "done\\n" -> exit quietly
       | SIGKILL              |  EOF, or reparented -> find processes carrying the
       v                      v  run's marker, SIGTERM their trees deepest first,
    (gone)               SIGKILL after `grace`, exit

Pool workers watch the runner themselves, but commands are spawned straight
from the runner with no Python in between, so nothing would stop them (or
what they started) after a SIGKILL of the runner. The guardian is that
something. It learns of the runner's death two ways: end of file on its stdin
(the runner held the only write end), and, because a worker started with
`fork` inherits that write end too and keeps the pipe open, its parent PID
changing (an orphan is handed to init or a subreaper). It runs in its own
session so a Ctrl-C or a SIGTERM to the runner's process group does not reach
it, and ignores those signals besides. Only the standard library is imported
until there is something to kill, so starting one costs a bare interpreter.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

TYPE_CHECKING = False  # typing (and the re it imports) would double this process's start-up
if TYPE_CHECKING:
    import subprocess
    from typing import Any, NoReturn

DONE = b"done\n"
POLL_SECONDS = 0.1
FAMILY_SECONDS = 0.25
NAME = "runner.system.guardian"
"""In the guardian's command line: what `ps` and the end-of-run sweep recognise it by."""
MARKER_ENV = "RUNNER_RUN_ID"
"""Same as `runner.system.procs.RUN_MARKER_ENV`, spelled out so starting costs no psutil import."""


class Guardian:
    """The runner's handle on its guardian: `close()` once the run has ended normally."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    def close(self) -> None:
        """Tell the guardian the run ended on its own. Not waiting for it to exit: on a
        short run it may still be starting its interpreter, and the runner need not
        wait for that (the "done" stays in the pipe for it to read). Popen reaps it
        later, or init does once the runner has exited."""
        stdin = self.process.stdin
        if stdin is not None:
            try:
                stdin.write(DONE)
                stdin.close()
            except OSError:  # it died already (someone killed it)
                pass
        self.process.poll()

    def __enter__(self) -> Guardian:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


BOOT = ("import sys; sys.path[:0] = sys.argv.pop().split({sep!r}); "
        "from runner.system.guardian import serve; serve(sys.argv[2:])")
"""What the guardian's interpreter runs: `python -I -S -c BOOT runner.system.guardian RUN_ID
PID GRACE PATHS`. Without `site` (and without typing, see TYPE_CHECKING above) it
starts in half the time; PATHS (the runner's own import path, the folder holding
`runner` first) is all it needs, and only to clean up."""


def start(run_id: str, grace: float) -> Guardian:
    """Launch the guardian of `run_id`; it stops the run's processes if this process dies."""
    import subprocess

    env = {name: value for name, value in os.environ.items() if name != MARKER_ENV}
    home = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    argv = [sys.executable, "-I", "-S", "-c", BOOT.format(sep=os.pathsep), NAME,
            run_id, str(os.getpid()), str(grace), os.pathsep.join([home, *sys.path])]
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    return Guardian(process)


class _Family:
    """The runner's descendants as last seen. A worker forked from the runner shows no
    run marker in /proc (its environment block is the runner's, from before the run
    began), and neither does what it forks in turn; so the guardian also remembers the
    runner's tree, refreshed every `FAMILY_SECONDS`, and ends those that are still the
    same processes (PID and create time) when the runner dies."""

    def __init__(self, runner_pid: int) -> None:
        self.runner_pid = runner_pid
        self.members: list[Any] = []
        self._due = time.monotonic() + FAMILY_SECONDS

    def refresh(self) -> None:
        if time.monotonic() < self._due:
            return
        self._due = time.monotonic() + FAMILY_SECONDS
        import psutil

        try:
            found = psutil.Process(self.runner_pid).children(recursive=True)
        except psutil.Error:
            return
        self.members = [process for process in found if process.pid != os.getpid()]


def _wait_for_runner(runner_pid: int, family: _Family) -> bool:
    """Block until the runner says "done" (True) or is gone (False)."""
    said: list[bytes] = []
    ended = threading.Event()

    def read() -> None:
        with os.fdopen(0, "rb", buffering=0) as stdin:
            while not ended.is_set():
                chunk = stdin.read(64)
                if not chunk:
                    break
                said.append(chunk)
                if DONE in b"".join(said):
                    break
        ended.set()

    threading.Thread(target=read, name="guardian-stdin", daemon=True).start()
    while not ended.wait(POLL_SECONDS):
        if os.getppid() != runner_pid:  # a "done" written just before dying still counts
            ended.wait(POLL_SECONDS)
            break
        family.refresh()
    return DONE in b"".join(said)


def _clean_up(run_id: str, grace: float, family: _Family) -> None:
    """Stop every process still carrying the run's marker or last seen in the runner's
    tree, each with its whole tree; then remove the run's capture files and the marker
    files of its local dask workers."""
    from runner.system import procs
    from runner.worker import capture, dask_task

    members = procs.forest([*procs.marked(run_id), *procs.alive(family.members)])
    if members:
        procs.kill_all(members, signal.SIGTERM, grace)
    capture.remove_run_folders(run_id)
    dask_task.remove_markers(run_id)


def main(argv: list[str]) -> int:
    run_id, runner_pid, grace = argv[0], int(argv[1]), float(argv[2])
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    family = _Family(runner_pid)
    if not _wait_for_runner(runner_pid, family):
        _clean_up(run_id, grace, family)
    return 0


def serve(argv: list[str]) -> NoReturn:
    """The guardian's process: run, then exit without interpreter teardown."""
    os._exit(main(argv))


if __name__ == "__main__":
    serve(sys.argv[1:])
