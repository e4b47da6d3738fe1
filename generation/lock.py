"""One writer per output directory or file.

Two commands writing into the same run directory would interleave their request logs and pay for
every request twice; two judges appending to one ratings file would rate every item twice. Each
command that writes holds an exclusive lock on its output for its whole run. The lock is an
advisory `flock` on a small file, so it dies with its holder: a lock left by a killed process is
free again at once, and nothing stale needs cleaning.

A run directory holds its lock file inside (`DirectoryLock`). An output that is one file, or a
folder that is assembled elsewhere and swapped into place whole, cannot: its lock file sits
beside it (`PathLock`), named after it, and goes when the command ends.
"""
from __future__ import annotations

import argparse
import fcntl
import functools
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from .errors import InputError

LOCK_NAME = ".selfinstruct.lock"


def sidecar_lock_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


class _Flock:
    """The flock itself: held from `_acquire` until `__exit__`; a second holder gets a one-line
    InputError naming `self.target` and the process that has it."""

    target: Path
    what: str
    _fd: int | None = None
    _lock_file: Path | None = None

    def _refuse(self, message: str) -> InputError:
        return InputError(message, file=self.target, field=self.what)

    def _acquire(self, lock_file: Path, *, remove_on_release: bool = False) -> None:
        while True:
            try:
                fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise self._refuse(f"cannot write here ({exc.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                holder = f" (pid {pid})" if pid.isdigit() else ""
                raise self._refuse(f"another selfinstruct command{holder} is writing here; wait for it to finish "
                                   "or use another output") from None
            if _same_file(fd, lock_file):
                break
            os.close(fd)  # its holder removed it between our open and flock: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd, self._lock_file = fd, (lock_file if remove_on_release else None)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            if self._lock_file is not None:  # removed while held: an opener waiting on it sees it gone and retries
                try:
                    self._lock_file.unlink()
                except OSError:
                    pass
            os.close(self._fd)  # closing releases the flock
            self._fd = self._lock_file = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def _make_parent(path: Path, what: str) -> None:
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise InputError(f"{parent} is not a directory", file=path, field=what)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror})", file=path, field=what) from None


class DirectoryLock(_Flock):
    """`with DirectoryLock(folder):` creates the folder if needed and holds it."""

    def __init__(self, folder: str | Path, *, what: str = "--out") -> None:
        self.folder, self.target, self.what = Path(folder), Path(folder), what
        self._fd = None

    def __enter__(self) -> "DirectoryLock":
        if self.folder.exists() and not self.folder.is_dir():
            raise self._refuse("exists and is not a directory")
        _make_parent(self.folder, self.what)
        try:
            self.folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise self._refuse(f"cannot write here ({exc.strerror})") from None
        self._acquire(self.folder / LOCK_NAME)
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


class PathLock(_Flock):
    """`with PathLock(path):` holds an output file (or, with `directory=True`, a folder the
    command replaces whole) through `.<name>.lock` beside it. It checks the path first, so a
    directory given where a file is written (or the reverse) is refused before any work."""

    def __init__(self, path: str | Path, *, what: str = "--out", directory: bool = False) -> None:
        self.target, self.what, self.directory = Path(path), what, directory
        self._fd = None

    def __enter__(self) -> "PathLock":
        if self.directory and self.target.exists() and not self.target.is_dir():
            raise self._refuse("exists and is not a directory")
        if not self.directory and self.target.is_dir():
            raise self._refuse("is a directory; expected a file")
        _make_parent(self.target, self.what)
        self._acquire(sidecar_lock_path(self.target), remove_on_release=True)
        return self


def holding(handler: Callable[[argparse.Namespace], int], attr: str = "out", *, kind: str = "file",
            what: str = "--out") -> Callable[[argparse.Namespace], int]:
    """`handler` run with its output locked; `kind` is "file", "folder" (a folder whose lock sits
    beside it, so a refused run leaves no folder behind) or "rundir" (a run directory, resumed in
    place: lock inside, orphan temp files cleared). An unset output (stdout) is not locked."""
    if kind not in ("file", "folder", "rundir"):
        raise ValueError(f"unknown output kind {kind!r}")

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        path = getattr(args, attr)
        if path is None:
            return handler(args)
        lock = DirectoryLock(path, what=what) if kind == "rundir" else PathLock(path, what=what,
                                                                                directory=kind == "folder")
        with lock:
            return handler(args)

    return run
