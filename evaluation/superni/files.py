"""The official file formats (natural-instructions `eval/automatic/evaluation.py`), read with
errors that name file, line and field.

Predictions: JSONL `{"id", "prediction"}`. References: JSONL `{"id", "references": [...],
"task_id"?, "task_category"?, "track"?}`.
"""
from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import JsonlAppender, iter_jsonl

from .metric import Reference


def read_references(path: str | Path) -> list[Reference]:
    path = Path(path)
    refs: list[Reference] = []
    seen: set[str] = set()
    for line, row in iter_jsonl(path):
        if not isinstance(row, dict):
            raise InputError("expected a JSON object", file=path, line=line)
        rid = row.get("id")
        if not isinstance(rid, str) or not rid:
            raise InputError("must be a non-empty string", file=path, line=line, field="id")
        if rid in seen:
            raise InputError(f"duplicate reference id {rid!r}", file=path, line=line, field="id")
        seen.add(rid)
        values = row.get("references")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise InputError("must be a non-empty list of strings", file=path, line=line, field="references")
        for key in ("task_id", "task_category", "track"):
            if key in row and not isinstance(row[key], str):
                raise InputError("must be a string", file=path, line=line, field=key)
        track = row.get("track", "default")
        if track not in ("default", "xlingual"):
            raise InputError(f"unknown track {track!r} (default or xlingual)", file=path, line=line, field="track")
        refs.append(Reference(rid, tuple(values), row.get("task_id"), row.get("task_category"), track))
    if not refs:
        raise InputError("no references", file=path)
    return refs


def read_predictions(path: str | Path, known_ids: Collection[str] | None = None, *,
                     allow_torn_tail: bool = False) -> dict[str, str]:
    """id -> prediction, from the official format or Tk-Instruct's (`Instance.id`, `prediction`).
    An id not in `known_ids`, a duplicate id, or a malformed line is an
    `InputError` naming the line: scoring a file that does not belong to the references must
    fail loudly, not quietly average the wrong things."""
    path = Path(path)
    preds: dict[str, str] = {}
    for line, row in iter_jsonl(path, allow_torn_tail=allow_torn_tail):
        if not isinstance(row, dict):
            raise InputError("expected a JSON object", file=path, line=line)
        pid = row.get("id")
        if pid is None and isinstance(row.get("Instance"), dict):
            pid = row["Instance"].get("id")  # Tk-Instruct's predicted_examples.jsonl rows
        if not isinstance(pid, str) or not pid:
            raise InputError("must be a non-empty string", file=path, line=line, field="id")
        if "prediction" not in row:
            raise InputError("missing", file=path, line=line, field="prediction")
        pred = row["prediction"]
        if not isinstance(pred, str):
            raise InputError("must be a string", file=path, line=line, field="prediction")
        if known_ids is not None and pid not in known_ids:
            raise InputError(f"unknown instance id {pid!r} (not in the references)", file=path, line=line, field="id")
        if pid in preds:
            raise InputError(f"duplicate prediction for {pid!r}", file=path, line=line, field="id")
        preds[pid] = pred
    return preds


class PredictionLog:
    """Append-only predictions file that a rerun resumes: ids already written are skipped, and
    a torn last line (a killed run) is cut off before the first new append."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.done: dict[str, str] = (read_predictions(self.path, allow_torn_tail=True)
                                     if self.path.exists() else {})
        self._appender: JsonlAppender | None = None

    def write(self, items: list[tuple[str, str]]) -> None:
        if self._appender is None:
            self._appender = JsonlAppender(self.path)
        fresh = [(i, p) for i, p in items if i not in self.done]
        self._appender.write_many({"id": i, "prediction": p} for i, p in fresh)
        self.done.update(fresh)

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None

    def __enter__(self) -> "PredictionLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
