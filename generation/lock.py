"""One writer per output directory.

Two commands writing into the same run directory would interleave their request logs and pay for
every request twice. Each command that writes a folder holds an exclusive lock on it for its whole
run. The lock is an advisory `flock` on a small file inside the folder, so it dies with its
holder: a lock left by a killed process is free again at once, and nothing stale needs cleaning.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from .errors import InputError

LOCK_NAME = ".selfinstruct.lock"


class DirectoryLock:
    """`with DirectoryLock(folder):` creates the folder if needed and holds it; a second holder
    gets a one-line InputError naming the folder and the process that has it."""

    def __init__(self, folder: str | Path, *, what: str = "--out") -> None:
        self.folder, self.what = Path(folder), what
        self._fd: int | None = None

    def __enter__(self) -> "DirectoryLock":
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError("exists and is not a directory", file=self.folder, field=self.what)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"cannot write here ({exc.strerror})", file=self.folder, field=self.what) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            holder = f" (pid {pid})" if pid.isdigit() else ""
            raise InputError(f"another selfinstruct command{holder} is writing here; wait for it to finish "
                             "or use another directory", file=self.folder, field=self.what) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        self._remove_orphan_temp_files()
        return self

    def _remove_orphan_temp_files(self) -> None:
        """Half-written files of a killed writer (`jsonl.atomic_writer` names them
        `.<name>.<random>.tmp`): with the lock held, no live writer can own one."""
        for pattern in (".*.tmp", "*/.*.tmp"):
            for path in self.folder.glob(pattern):
                try:
                    path.unlink()
                except OSError:
                    pass

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None
