"""Files a run writes: atomically (a reader sees the old file or the new one, never half of one),
with the umask's permissions, and into a folder that one run at a time holds with a lock."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import FolderBusy

try:  # POSIX; elsewhere a folder is not locked (see folder_lock)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
LOCKS_WORK = fcntl is not None  # False where folder_lock cannot lock (it then only creates the file)


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Write to a temporary file beside `path`, then rename it over `path` (on success only).

    An error inside the block removes the temporary file and leaves `path` as it was. The file gets
    the permissions any new file would (0o666 less the umask), not mkstemp's private 0o600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=suffix)
    try:
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "wb") as f:  # f.name is the temporary file's path
            yield f
        os.replace(tmp, path)  # atomic on POSIX and Windows
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def stray_temporaries(path: str | os.PathLike, suffix: str = ".tmp") -> list[Path]:
    """Temporary files that atomic_write(path) left behind when its process was killed mid-write.

    Only names atomic_write makes match: ".<name>." + mkstemp's 8 random characters + suffix.
    """
    path = Path(path)
    pattern = re.compile(re.escape(_temporary_prefix(path)) + r"[a-z0-9_]{8}" + re.escape(suffix))
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if pattern.fullmatch(p.name) and p.is_file())


def remove_stray_temporaries(path: str | os.PathLike, suffix: str = ".tmp") -> list[Path]:
    """Delete stray_temporaries(path); call it only while no other process writes `path`."""
    removed = stray_temporaries(path, suffix)
    for stray in removed:
        stray.unlink(missing_ok=True)
    return removed


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on `folder` (created if need be) for the block, or raise FolderBusy.

    An OS file lock (flock) on folder/.lock, which holds the owner's PID: the kernel releases it
    when the process ends, however it ends, so a killed run never leaves the folder locked. It never
    waits. The lock file itself stays (removing it would let two runs lock two different files).
    """
    folder = Path(folder)
    lock_path = folder / LOCK_FILE
    if fcntl is None:  # pragma: no cover - Windows: no flock; one run per folder is up to the user
        lock_path.touch()
        yield lock_path
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise FolderBusy(
                f"{folder} is in use by another training (PID {owner or 'unknown'}): wait for it to "
                "finish, stop it, or choose another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock_path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
