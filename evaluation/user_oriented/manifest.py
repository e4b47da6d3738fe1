"""The manifest written next to generated responses and judge ratings: enough to know later
what produced a file (settings without secrets, software versions, counts, tokens, cost)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from selfinstruct.generation.jsonl import write_json
from selfinstruct.generation.lm.base import LanguageModel
from selfinstruct.generation.provenance import software_versions as core_software_versions



def software_versions() -> dict[str, str | None]:
    return core_software_versions("matplotlib")


def manifest_path(out: str | Path) -> Path:
    """`preds.jsonl` -> `preds.manifest.json`, beside the data it describes."""
    out = Path(out)
    stem = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.name
    return out.with_name(f"{stem}.manifest.json")


def backend_usage(lm: LanguageModel) -> dict:
    return {"prompt_tokens": lm.usage.prompt_tokens, "completion_tokens": lm.usage.completion_tokens,
            "cost_usd": float(lm.cost_usd)}


def write_manifest(out: str | Path, body: dict) -> Path:
    path = manifest_path(out)
    # No command line here: it may hold --api-key. The settings in `body` are secret-free.
    write_json(path, {"written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "versions": software_versions(), **body})
    return path
