"""One error type for bad user input, so every command reports it the same way.

The CLI turns an `InputError` into a single line `error: FILE:LINE: FIELD: message` and exit
code 2; nothing else in the program prints tracebacks for the user's mistakes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_INPUT_ERROR = 2


@dataclass
class InputError(Exception):
    message: str
    file: str | Path | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"

EXIT_STOPPED = 3


class RunStopped(Exception):
    """A run that cannot make progress (every request failing, or nothing passing the filters)
    stops with one line naming the cause and the flag to change; its state is saved, so the
    same command resumes it once the cause is fixed."""

    exit_code = EXIT_STOPPED


class FilesWritten(RunStopped):
    """A run that did its part and now waits on the user: `--batch-files-only` wrote the request
    files for an offline runner. Nothing failed, so the command exits 0 with the next step."""

    exit_code = 0
