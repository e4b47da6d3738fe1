"""`batches.jsonl`: what batch mode has handed to a Batch API (or written for an offline runner),
kept in the run directory so that no request is ever paid for twice.

Append-only and fsynced: an entry is on disk before the backend waits for anything, so a run
killed at any moment (kill -9, a machine restart) finds, on its next start, every batch it had
submitted, under the same `custom_id`s, and polls those batches instead of submitting again.

Entries (one JSON object a line, in the order things happened):
  {"kind": "run", "tag": ...}                       first line: the run's tag, in every custom_id
  {"kind": "submitted", "batch_id", "input_file_id", "endpoint", "custom_ids", "estimate_usd", ...}
  {"kind": "done", "batch_id", "status", "counts", "cost_usd"}   once its results were read
  {"kind": "written", "file", "endpoint", "custom_ids"}          --batch-files-only
No entry holds a key, a prompt or a response: ids, counts and money only.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..jsonl import JsonlAppender, loads

LEDGER_NAME = "batches.jsonl"
TERMINAL = ("completed", "failed", "expired", "cancelled")


def ledger_path(path: str | Path) -> Path:
    """The ledger of a run directory, or of the `.batch` folder beside an output file."""
    path = Path(path)
    if path.name == LEDGER_NAME:
        return path
    if path.is_file():
        path = batch_dir_for(path)
    return path / LEDGER_NAME


def batch_dir_for(out: str | Path) -> Path:
    """Where batch mode keeps its ledger and request files for a command's --out: the folder
    itself, or `<file>.batch/` beside an output file (user-oriented writes JSONL files)."""
    out = Path(out)
    if out.suffix in (".jsonl", ".json") or out.is_file():
        return out.with_name(out.name + ".batch")
    return out


@dataclass
class Ledger:
    root: Path
    tag: str = ""
    entries: list[dict] = field(default_factory=list)

    @classmethod
    def open(cls, root: str | Path, *, create: bool = True) -> "Ledger":
        root = Path(root)
        ledger = cls(root)
        path = root / LEDGER_NAME
        if path.exists():
            lines = path.read_bytes().splitlines()
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    entry = loads(line)
                except ValueError:
                    if n == len(lines):
                        continue  # a torn last line: the appender repairs it on the next write
                    raise InputError("not JSON", file=path, line=n) from None
                ledger.entries.append(entry)
        runs = [e for e in ledger.entries if e.get("kind") == "run"]
        if runs:
            ledger.tag = runs[0]["tag"]
        elif create:
            ledger.tag = secrets.token_hex(4)
            ledger.append({"kind": "run", "tag": ledger.tag})
        return ledger

    @property
    def path(self) -> Path:
        return self.root / LEDGER_NAME

    def append(self, entry: dict) -> None:
        with JsonlAppender(self.path, fsync=True) as out:
            out.write(entry)
        self.entries.append(entry)

    def of_kind(self, kind: str) -> list[dict]:
        return [e for e in self.entries if e.get("kind") == kind]

    def batches_holding(self, custom_ids: Iterable[str]) -> list[dict]:
        """Submitted batches holding any of these ids, in submission order."""
        wanted = set(custom_ids)
        return [e for e in self.of_kind("submitted") if wanted.intersection(e["custom_ids"])]

    def submissions(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.of_kind("submitted"):
            for cid in e["custom_ids"]:
                counts[cid] = counts.get(cid, 0) + 1
        return counts

    def known_ids(self) -> set[str]:
        """Every custom_id this run submitted or wrote to a request file."""
        return {cid for kind in ("submitted", "written") for e in self.of_kind(kind) for cid in e["custom_ids"]}

    def done(self, batch_id: str) -> dict | None:
        return next((e for e in self.of_kind("done") if e["batch_id"] == batch_id), None)

    def spent_usd(self) -> float:
        """What finished batches cost, plus the upper bound of those still out."""
        total = 0.0
        for e in self.of_kind("submitted"):
            done = self.done(e["batch_id"])
            total += float(done["cost_usd"]) if done else float(e.get("estimate_usd") or 0.0)
        return total
