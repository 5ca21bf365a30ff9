"""Environment values as the journal may know them: keyed digests, never the values.

Flow: api.run (the key) -> **envseal** -> plan (spec hashes) -> journal -> resume.

A task's spec hash must change when an `env` value changes, so that `--resume`
does not trust a result made with another token; yet the journal and the job
file together must not give the value away (an unkeyed hash of a 4-digit PIN
is undone by trying all 10,000). So each value enters the hash as an
HMAC-SHA256 under a random key kept in the state folder (`secret-key`, 0600,
the user's own), and the journal records per variable only that digest and
an id of the key: `--resume` can name the variables whose value changed, and
nobody without the key can test a guess. Losing the key (a cleared
`$XDG_RUNTIME_DIR`) only means that `--resume` can no longer tell whether env
values changed, and says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from runner.errors import RunnerError

if TYPE_CHECKING:
    from runner.jobfile.job import Job

KEY_FILE = "secret-key"
KEY_BYTES = 32
_EPHEMERAL = os.urandom(KEY_BYTES)
"""For plans made without the runner's key (a library's own `Plan`): digests that mean
nothing outside this process, rather than unkeyed ones."""


def ephemeral_key() -> bytes:
    return _EPHEMERAL


def keyed(job: Job) -> Job:
    """The job with the user's key, for a run (its journal outlives this process); the
    key file is read, or made, only when some task has an env."""
    if not job.has_env or job.env_key is not None:
        return job
    from runner.system.registry import state_dir

    return job.with_env_key(secret_key(state_dir()))


def digest(key: bytes, name: str, value: str) -> str:
    """The keyed digest of one variable's value (the name is bound in, so equal values
    of two variables do not show as equal)."""
    message = name.encode() + b"\0" + value.encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """Tells two keys apart without saying anything about either."""
    return hmac.new(key, b"runner secret key id", hashlib.sha256).hexdigest()[:16]


def secret_key(folder: Path) -> bytes:
    """The key in `folder/secret-key`, created (0600, never replacing one another runner
    made meanwhile) if there is none; refused if it is not a regular file of this user's
    that only this user can read."""
    path = folder / KEY_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _create(path)
    except OSError as exc:
        raise RunnerError(f"cannot create the secret key {path}: {exc.strerror or exc}; "
                          "it keeps env values out of the journal") from None
    return _read(path)


def _create(path: Path) -> None:
    temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, os.urandom(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another runner made one first: both use it
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def _read(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        cause = "is a symlink" if path.is_symlink() else f"cannot be read: {exc.strerror}"
        raise _refused(path, cause) from None
    try:
        info = os.fstat(fd)
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if not stat.S_ISREG(info.st_mode):
        raise _refused(path, "is not a regular file")
    if info.st_uid != os.geteuid():
        raise _refused(path, f"belongs to uid {info.st_uid}, not to you")
    if info.st_mode & 0o077:
        raise _refused(path, f"can be read by others (mode {info.st_mode & 0o777:o}); "
                       f"chmod 600 {path} if it is yours")
    if len(data) != KEY_BYTES:
        raise _refused(path, f"holds {len(data)} bytes, not {KEY_BYTES}")
    return data


def _refused(path: Path, cause: str) -> RunnerError:
    return RunnerError(f"refusing the secret key {path}: it {cause}. It keeps env values out "
                       "of the journal; remove it to have a new one made (a --resume of "
                       "earlier runs then cannot tell whether env values changed)")
