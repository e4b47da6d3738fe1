"""The manifest written next to generated responses and judge ratings: enough to know later
what produced a file (settings without secrets, software versions, counts, tokens, cost)."""
from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from selfinstruct.generation.jsonl import write_json

_PACKAGES = ("selfinstruct", "openai", "transformers", "torch", "numpy", "matplotlib")


def software_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def manifest_path(out: str | Path) -> Path:
    """`preds.jsonl` -> `preds.manifest.json`, beside the data it describes."""
    out = Path(out)
    stem = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.name
    return out.with_name(f"{stem}.manifest.json")


def backend_usage(lm: object) -> dict:
    usage = getattr(lm, "usage", None)
    return {
        "prompt_tokens": getattr(usage, "prompt_tokens", 0),
        "completion_tokens": getattr(usage, "completion_tokens", 0),
        "cost_usd": float(getattr(lm, "cost_usd", 0.0) or 0.0),
    }


def write_manifest(out: str | Path, body: dict) -> Path:
    path = manifest_path(out)
    # No command line here: it may hold --api-key. The settings in `body` are secret-free.
    write_json(path, {"written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "versions": software_versions(), **body})
    return path
