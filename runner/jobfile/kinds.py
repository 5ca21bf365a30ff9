"""The words a job file chooses from: each field's allowed values, named once for the
models of `spec` and the classes of `job` alike."""

from __future__ import annotations

from typing import Literal

FailureStatus = Literal["failed", "timeout", "crashed"]
Condition = Literal["success", "failure", "always"]
ResultFrom = Literal["stdout", "json"]
SignalName = Literal["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGKILL"]
Executor = Literal["process", "pool", "mp-pool", "dask"]
Mode = Literal["sync", "async"]
StartMethod = Literal["auto", "fork", "spawn", "forkserver"]
OnFailure = Literal["continue", "stop", "abort"]
