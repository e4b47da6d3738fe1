"""JSON Lines input and output with the project's two promises: every bad line is reported
with its file and line number, and nothing already written is ever half-overwritten.

Whole files are replaced atomically (write to a temporary file in the same folder, fsync,
rename); logs that grow during a run are append-only with one flushed line per record, and a
torn last line left by a crash is ignored on read and cut off before the next append.

Encoding and decoding go through orjson: a run writes every raw response (logprobs included)
into its request log and again into each instruction kept from it, and the standard library's
encoder was the largest single cost of a bootstrap round. Lines are compact JSON; values
orjson cannot encode (integers beyond 64 bits) fall back to the standard library.
`SharedEncoder` encodes a value that many records carry (one response, several kept
instructions) once and splices the bytes into each record.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import InputError
from .limits import MAX_LINE_BYTES

_OPTIONS = orjson.OPT_NON_STR_KEYS


def iter_jsonl(path: str | Path, *, allow_torn_tail: bool = False) -> Iterator[tuple[int, Any]]:
    """Yield (line_number, object) for each non-blank line of a file.

    With `allow_torn_tail`, an unparseable *last* line without a trailing newline is taken to be
    a record a crash cut short, and skipped; anywhere else bad JSON is an `InputError`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=path)
    with path.open("rb") as fh:
        data = fh.read()
    yield from iter_jsonl_bytes(data, path, allow_torn_tail=allow_torn_tail)


def iter_jsonl_bytes(data: bytes, source: str | Path, *, allow_torn_tail: bool = False) -> Iterator[tuple[int, Any]]:
    """`iter_jsonl` over bytes already in memory (a download being verified before it is
    cached); `source` names the file or URL in errors."""
    lines = data.split(b"\n")
    ends_with_newline = data.endswith(b"\n")
    for index, raw in enumerate(lines):
        number = index + 1
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:
            raise InputError(f"line longer than {MAX_LINE_BYTES} bytes", file=source, line=number)
        try:
            yield number, loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            is_tail = index == len(lines) - 1 and not ends_with_newline
            if allow_torn_tail and is_tail:
                return
            raise InputError(f"invalid JSON ({exc.__class__.__name__}: {exc})", file=source, line=number) from None


def read_jsonl(path: str | Path, **kw: Any) -> list[Any]:
    return [obj for _, obj in iter_jsonl(path, **kw)]


def loads(data: bytes | str) -> Any:
    """Parse one JSON document; what orjson refuses (NaN literals) gets the standard library's
    verdict, so a bad line is reported in its words."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON for one record (no trailing newline)."""
    try:
        return orjson.dumps(obj, option=_OPTIONS)
    except TypeError:  # e.g. an int beyond 64 bits: the standard library takes anything JSON can say
        # (not fragments: a shared value is encoded on its own, so it falls back on its own)
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def dumps(obj: Any) -> str:
    return dumps_bytes(obj).decode("utf-8")


class SharedEncoder:
    """Encodes a value once however many records carry it, as an `orjson.Fragment`.

    Keyed by object identity (the entry keeps the object alive, so an id is never reused while
    it is cached); `shared` names keys of a dict whose values are themselves shared, so a
    record's metadata can reuse its response's bytes. Callers `clear` it once those records
    are written (until then it holds every value it encoded).
    """

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, orjson.Fragment]] = {}

    def __len__(self) -> int:
        return len(self._memo)

    def fragment(self, value: Any, shared: tuple[str, ...] = ()) -> orjson.Fragment:
        hit = self._memo.get(id(value))
        if hit is None or hit[0] is not value:
            obj = value
            if shared and isinstance(value, dict):
                obj = {k: (self.fragment(v) if k in shared and v is not None else v) for k, v in value.items()}
            hit = self._memo[id(value)] = (value, orjson.Fragment(dumps_bytes(obj)))
        return hit[1]

    def clear(self) -> None:
        self._memo.clear()


@contextmanager
def atomic_writer(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary sibling of `path`; on clean exit fsync it and rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 less umask),
        # so a report or rating sheet handed to other people stays readable by them.
        os.chmod(tmp, 0o666 & ~_current_umask())
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_jsonl(path: str | Path, records: Iterable[Any]) -> int:
    """Atomically replace `path` with one JSON object per line; returns the count."""
    count = 0
    with atomic_writer(path, "wb") as fh:
        for record in records:
            fh.write(dumps_bytes(record) + b"\n")
            count += 1
    return count


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_writer(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


def repair_torn_tail(path: str | Path) -> int:
    """Cut a trailing partial line (no final newline) left by a killed writer.

    Returns the number of bytes removed. Called before appending so a resumed run never glues
    a new record onto half of an old one.
    """
    path = Path(path)
    if not path.exists():
        return 0
    with path.open("rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
        return len(data) - keep


class JsonlAppender:
    """Append-only JSONL log: one complete line per write, flushed (and optionally fsynced)."""

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(self.path)
        self._fh = self.path.open("ab")
        self._fsync = fsync

    def write(self, record: Any) -> None:
        self.write_many([record])

    def write_many(self, records: Iterable[Any]) -> None:
        data = b"".join(dumps_bytes(r) + b"\n" for r in records)
        if not data:
            return
        self._fh.write(data)
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
