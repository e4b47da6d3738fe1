"""`manifest.json`: what a run was configured with, what it has done and what it cost, built
from the state alone so a resumed or replayed run reports the same counts."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..lm.config import BackendConfig
from ..rundir import now
from .log import RequestIndex
from .profiles import Profile
from .settings import GenerateSettings, hashed_settings
from .state import RunState
from .steps.keyed import ClassifyStep


def step_counts(state: RunState, classify: ClassifyStep, finetune: dict | None) -> dict[str, Any]:
    log = state.log
    labels = [classify.label(state, k.instruction) for k in state.kept]
    boot, clf, inst = log.stats["bootstrap"], log.stats["classify"], log.stats["instances"]
    out: dict[str, Any] = {
        "bootstrap": {"prompts": boot.requests, "requests": boot.requests, "rounds": state.next_round,
                      "candidates": state.candidates, "kept": len(state.kept),
                      "rejected": dict(sorted(state.rule_counts.items())), "failures": boot.failures},
        "classify": {"requests": clf.requests, "labelled": sum(x is not None for x in labels),
                     "classification": sum(x is True for x in labels), "failures": clf.failures},
        "instances": {"requests": inst.requests,
                      "tasks": sum(log.result("instances", k.instruction) is not None for k in state.kept),
                      "failures": inst.failures},
    }
    if finetune:
        out["finetune"] = finetune
    return out


def usage(log: RequestIndex) -> dict[str, Any]:
    stats = log.stats.values()
    return {
        "usage": {"prompt_tokens": sum(x.prompt_tokens for x in stats),
                  "completion_tokens": sum(x.completion_tokens for x in stats)},
        "usage_per_step": {k: {"prompt_tokens": v.prompt_tokens, "completion_tokens": v.completion_tokens,
                               "cost_usd": round(v.cost_usd, 6)} for k, v in log.stats.items()},
        "cost_usd": round(log.cost_used, 6),
        "failures": sum(x.failures for x in stats),
    }


def build_manifest(*, status: str, settings: GenerateSettings, profile: Profile, framing: str,
                   config: BackendConfig, settings_hash: str, seed_count: int, versions: dict,
                   counts: dict, log: RequestIndex, timings: dict, extra: dict) -> dict[str, Any]:
    return {
        "status": status,
        "profile": profile.name,
        "framing": framing,
        "model": config.model,
        "backend": config.backend,
        "settings": {**asdict(settings), **config.public_dict()},
        "hashed_settings": hashed_settings(settings, profile, config),
        "settings_hash": settings_hash,
        "seed_tasks": {"path": settings.seed_tasks, "sha256": settings.seed_tasks_sha256, "count": seed_count},
        "random_seed": settings.seed,
        "versions": versions,
        "counts": counts,
        **usage(log),
        "timings": timings,
        "updated_at": now(),
        **extra,
    }
