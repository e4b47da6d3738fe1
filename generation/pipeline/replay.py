"""Re-deriving every kept set from recorded responses, with no model calls.

Two sources. Our own run directory: `requests.jsonl` holds every prompt and raw response, so
any filter setting (threshold, profile) can be re-applied exactly. An upstream batch directory
(the original scripts' output): only *kept* instructions were written, each carrying the raw
response it came from in `metadata`. A response that yielded several kept instructions appears
in each of them; responses that yielded nothing were never written. Replaying the responses
that are present, in request order, reproduces the upstream kept list exactly: a response with
no kept instruction changed nothing in the pool, so leaving it out changes no later decision.
What cannot be recovered from an upstream batch is anything about those missing responses, so
re-filtering one with a *looser* setting can only reconsider candidates of responses that had
at least one instruction kept (docs/pipeline.md, "Replay").
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import InputError
from ..jsonl import iter_jsonl, write_jsonl
from ..rundir import RunPaths, load_requests, read_manifest
from .templates import clean_instruction

UPSTREAM_INSTRUCTIONS = "machine_generated_instructions.jsonl"


def _choices(text: str) -> dict:
    return {"choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}]}


def upstream_batch_records(batch_dir: Path) -> tuple[list[dict], dict]:
    """Request records (our log format) rebuilt from an upstream batch directory."""
    path = batch_dir / UPSTREAM_INSTRUCTIONS
    rounds: dict[int, list[dict]] = {}
    seen: set[tuple] = set()
    for line, row in iter_jsonl(path, allow_torn_tail=True):
        for name in ("instruction", "metadata", "request_idx"):
            if name not in row:
                raise InputError("missing field (is this an upstream batch directory?)", file=path, line=line, field=name)
        meta = row["metadata"] or {}
        if "response" not in meta or "prompt" not in meta:
            raise InputError("metadata needs prompt and response", file=path, line=line, field="metadata")
        r = int(row["request_idx"])
        key = (r, json.dumps(meta["prompt"], sort_keys=True), json.dumps(meta["response"], sort_keys=True))
        if key in seen:
            continue
        seen.add(key)
        rounds.setdefault(r, []).append({
            "step": "bootstrap", "round": r, "request_idx": r, "prompt": meta["prompt"], "params": None,
            "response": meta["response"], "usage": None, "error": None, "created_at": meta.get("created_at"),
            "cost_usd": 0.0,
        })
    records: list[dict] = []
    for r in sorted(rounds):
        for pos, rec in enumerate(rounds[r]):
            records.append({**rec, "position": pos, "round_size": len(rounds[r])})
    info: dict = {"source_format": "upstream", "engine": None}
    clf_files = sorted(batch_dir.glob("is_clf_or_not_*.jsonl"))
    if clf_files:
        preferred = [p for p in clf_files if p.name == "is_clf_or_not_davinci_template_1.jsonl"]
        clf = (preferred or clf_files)[0]
        info["engine"] = clf.name[len("is_clf_or_not_"):].rsplit("_template", 1)[0]
        for line, row in iter_jsonl(clf, allow_torn_tail=True):
            if "instruction" not in row or "is_classification" not in row:
                raise InputError("needs instruction and is_classification", file=clf, line=line)
            records.append({"step": "classify", "key": row["instruction"], "request_idx": None, "prompt": None,
                            "params": None, "response": _choices(row["is_classification"] or ""),
                            "usage": None, "error": None, "created_at": None, "cost_usd": 0.0})
    inst_path = batch_dir / "machine_generated_instances.jsonl"
    if inst_path.exists():
        for line, row in iter_jsonl(inst_path, allow_torn_tail=True):
            if "instruction" not in row or "instance_metadata" not in row:
                raise InputError("needs instruction and instance_metadata", file=inst_path, line=line)
            meta = row["instance_metadata"] or {}
            records.append({"step": "instances", "key": row["instruction"], "request_idx": None,
                            "prompt": meta.get("prompt"), "params": None, "response": meta.get("response"),
                            "usage": None, "error": None, "created_at": meta.get("created_at"), "cost_usd": 0.0})
    return records, info


_LISTED = re.compile(r"^\d+\. (.+)$", re.MULTILINE)


def infer_classification_only(records: list[dict], seeds: list) -> bool:
    """Whether an upstream batch was made with `--use_clf_seed_tasks_only`: every seed task its
    prompts show is a classification task. (A prompt shows six or more seeds; drawn from all 175
    they would almost never all be among the classification ones.)"""
    shown = {clean_instruction(t.instruction): t.is_classification for t in seeds}
    flags = [shown[m] for rec in records if rec.get("step") == "bootstrap" and isinstance(rec.get("prompt"), str)
             for m in _LISTED.findall(rec["prompt"]) if m in shown]
    return bool(flags) and all(flags) and not all(shown.values())


def source_records(batch_dir: Path) -> tuple[list[dict], dict, dict | None]:
    """(records, info, manifest-or-None) for either kind of source directory."""
    if not batch_dir.is_dir():
        raise InputError("not a directory", file=batch_dir, field="--batch-dir")
    paths = RunPaths(batch_dir)
    if paths.requests.exists():
        return load_requests(paths.requests), {"source_format": "selfinstruct"}, read_manifest(paths.manifest)
    if (batch_dir / UPSTREAM_INSTRUCTIONS).exists():
        records, info = upstream_batch_records(batch_dir)
        return records, info, None
    raise InputError(f"neither requests.jsonl nor {UPSTREAM_INSTRUCTIONS} found", file=batch_dir, field="--batch-dir")


def check_output_dir(out: Path, source: Path, force: bool) -> None:
    if out.resolve() == source.resolve():
        raise InputError("replay must write to a different directory than it reads", file=out, field="--out")
    manifest = read_manifest(RunPaths(out).manifest)
    if manifest is not None and manifest.get("status") != "replayed" and not force:
        raise InputError("holds a generation run; replay into a new directory (or pass --force)",
                         file=out, field="--out")


def write_source_log(out: Path, records: list[dict]) -> None:
    """The replay's own requests.jsonl, so its output can be replayed or resumed in turn."""
    write_jsonl(RunPaths(out).requests, records)
