"""runner: a declarative YAML job runner.

The public API is `load(path) -> Job` and `run(job) -> RunResult`. Heavy
modules (multiprocessing, psutil, the engine) are imported on first use, so
`runner validate` and `runner --help` start as fast as their own imports allow.
"""

from __future__ import annotations

from runner.version import __version__

__all__ = ["Job", "RunResult", "__version__", "load", "run"]

TYPE_CHECKING = False  # not typing's: the guardian imports this package, and typing costs it
if TYPE_CHECKING:
    from typing import Any

    from runner.api import RunResult, run
    from runner.jobfile.job import Job
    from runner.jobfile.loader import load


def __getattr__(name: str) -> Any:
    if name == "load":
        from runner.jobfile.loader import load

        return load
    if name == "Job":
        from runner.jobfile.job import Job

        return Job
    if name in ("run", "RunResult"):
        from runner import api

        return getattr(api, name)
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
