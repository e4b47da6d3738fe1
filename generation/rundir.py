"""The run directory's files (docs/run-directory.md) and the request log they derive from.

`requests.jsonl` is the source of truth: every prompt and raw response, appended as soon as a
round returns. Everything else (kept instructions, labels, instances, rejections, finetuning
data) is re-derived from it by the pure filters, which is what makes resume, SIGKILL safety
and offline replay one mechanism instead of three.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .jsonl import iter_jsonl
from .provenance import software_versions

CLF_TEMPLATE = "template_1"


def now() -> str:
    return str(_dt.datetime.now())


def model_slug(model: str) -> str:
    """A file-name-safe model name for is_clf_or_not_<model>_<template>.jsonl."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model.rstrip("/").split("/")[-1]).strip("-") or "model"


_FILES = {
    "manifest": "manifest.json",
    "requests": "requests.jsonl",
    "rejected": "rejected.jsonl",
    "instructions": "machine_generated_instructions.jsonl",
    "instances": "machine_generated_instances.jsonl",
    "all_instances": "all_generated_instances.jsonl",
    "finetuning": "finetuning",
}


@dataclass(frozen=True)
class RunPaths:
    """Where each file of a run directory lives (names: docs/run-directory.md)."""

    root: Path
    manifest: Path = field(init=False)
    requests: Path = field(init=False)
    rejected: Path = field(init=False)
    instructions: Path = field(init=False)
    instances: Path = field(init=False)
    all_instances: Path = field(init=False)
    finetuning: Path = field(init=False)

    def __post_init__(self) -> None:
        for attr, name in _FILES.items():
            object.__setattr__(self, attr, Path(self.root) / name)

    def clf_file(self, model: str) -> Path:
        return self.root / f"is_clf_or_not_{model_slug(model)}_{CLF_TEMPLATE}.jsonl"


def load_requests(path: Path) -> list[dict]:
    """The request log, tolerating a line torn by a crash at the very end."""
    if not path.exists():
        return []
    return [rec for _, rec in iter_jsonl(path, allow_torn_tail=True)]


def read_manifest(path: Path) -> dict | None:
    """A run's manifest.json; None where there is none (the original scripts write none)."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("manifest is not valid JSON", file=path) from None
    if not isinstance(data, dict):
        raise InputError("manifest is not a JSON object", file=path)
    return data


def settings_hash(hashed: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str | None]:
    return software_versions("rouge-score", "rapidfuzz")


def check_same_settings(old: dict | None, hashed: dict, digest: str, manifest: Path, *, force: bool = False) -> None:
    """Refuse to resume a run made with other output-deciding settings: its request log would
    answer prompts the new settings never send. The error names each changed setting."""
    if old is None or old.get("settings_hash") == digest or force:
        return
    before = old.get("hashed_settings", {})
    changed = [f"{k}: {before.get(k)!r} -> {v!r}" for k, v in hashed.items() if before.get(k) != v]
    raise InputError(
        "this run directory was made with different settings (" + "; ".join(changed or ["unknown"]) +
        "); rerun with the same settings to resume, pass --force to continue anyway, or use a new --out",
        file=manifest, field="settings")
