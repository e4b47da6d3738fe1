"""The derived files of a run directory, written by the driver alone: appended to round by
round through one open handle per file, or replaced atomically."""
from __future__ import annotations

from pathlib import Path

from ..jsonl import JsonlAppender, write_jsonl


class DerivedFiles:
    def __init__(self) -> None:
        self._appenders: dict[Path, JsonlAppender] = {}

    def append(self, path: Path, rows: list) -> None:
        """Append through one handle per file (opening an appender re-reads the file to repair
        a torn tail, which per round would be quadratic)."""
        fh = self._appenders.get(path)
        if fh is None:
            fh = self._appenders[path] = JsonlAppender(path)
        fh.write_many(rows)

    def rewrite(self, path: Path, rows: list) -> None:
        """Atomically replace a file (closing its appender, which points at the old one)."""
        fh = self._appenders.pop(path, None)
        if fh is not None:
            fh.close()
        write_jsonl(path, rows)

    def close(self) -> None:
        for fh in self._appenders.values():
            fh.close()
        self._appenders.clear()
