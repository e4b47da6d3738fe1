"""Bounds on what users feed in. The near-duplicate test compares every instruction with every
other one, so a single runaway line (a pasted book, a broken export) would exhaust memory long
before it failed; it is refused up front with the file, line and field instead."""
from __future__ import annotations

from .errors import InputError

MAX_LINE_BYTES = 64 * 1024 * 1024  # one JSONL record
MAX_INSTRUCTION_CHARS = 20_000
MAX_INSTRUCTION_WORDS = 2_000
MAX_FIELD_CHARS = 200_000  # an instance's input or output


def check_instruction(text: str, *, file=None, line: int | None = None, field: str = "instruction") -> None:
    if len(text) > MAX_INSTRUCTION_CHARS or len(text.split()) > MAX_INSTRUCTION_WORDS:
        raise InputError(f"instruction too long ({len(text)} characters; at most {MAX_INSTRUCTION_CHARS} "
                         f"characters and {MAX_INSTRUCTION_WORDS} words)", file=file, line=line, field=field)


def check_field(text: str, *, file=None, line: int | None = None, field: str) -> None:
    if len(text) > MAX_FIELD_CHARS:
        raise InputError(f"too long ({len(text)} characters; at most {MAX_FIELD_CHARS})", file=file, line=line,
                         field=field)
