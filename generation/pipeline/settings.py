"""What a run is configured with, and which of those settings decide its output.

A run directory records the settings that change what it produces (`hashed_settings`); resuming
with other values is refused, because the request log would then answer prompts the new settings
never send. Budgets, the target count, concurrency in steps 2-3, URLs and timeouts are free to
change between invocations.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

from ..lm.config import EMBEDDED_MODEL, BackendConfig
from .profiles import Profile

# Measured on the embedded SmolLM2-135M-Instruct (docs/pipeline.md, "Yield"): the framing that
# gave more kept instructions per prompt and valid instances per instruction.
EMBEDDED_FRAMING = "completion"

_CHAT_MODEL_PREFIXES = ("gpt-3.5-turbo", "gpt-4", "gpt-5", "o1", "o3", "o4", "chatgpt")


@dataclass
class GenerateSettings:
    """Everything a run is configured with, apart from the model flags (BackendConfig)."""

    num_instructions: int | None = 100
    profile: str = "default"
    seed: int = 42
    finetune_seed: int = 123
    threshold: float = 0.7
    framing: str = "auto"  # auto | completion | chat
    concurrency: int = 16  # prompts per round (default profile) and per batch in steps 2-3
    classification_only: bool = False
    include_seed_instances: bool = True
    max_cost: float | None = None
    max_tokens: int | None = None  # total token budget for the run dir
    request_max_tokens: int | None = None  # cap on each request's max_tokens (small local models)
    prompts_per_request: int = 1  # completions prompts packed into one HTTP request (OpenAI-compatible)
    overlap_rounds: bool = False  # sample round r+1 from the pool before round r (hides round r's filtering)
    max_failures: int = 32  # consecutive failed requests before a step stops (0: never)
    max_empty_rounds: int = 25  # consecutive answered step-1 rounds that keep nothing (0: never)
    seed_tasks: str | None = None
    seed_tasks_sha256: str | None = None
    upstream_dir: str | None = None  # a copy of the original repository (upstream profile's texts)
    # the released scripts' own options; None: the step spec's (or profile's) value
    num_prompt_instructions: int | None = None
    request_batch_size: int | None = None  # step-1 prompts per round where the profile fixes one
    max_instances_to_generate: int | None = None


def resolve_framing(framing: str, config: BackendConfig) -> str:
    """Completion models get the paper's prompts as they are; chat models get them framed as a
    conversation. "auto" picks by what is known about the model before loading it."""
    if framing != "auto":
        return framing
    if config.model == EMBEDDED_MODEL:
        return EMBEDDED_FRAMING
    if config.api in ("chat", "completions"):
        return "chat" if config.api == "chat" else "completion"
    name = config.model.split("/")[-1]
    if name.startswith(_CHAT_MODEL_PREFIXES) and "instruct" not in name:
        return "chat"
    return "completion"


def hashed_settings(settings: GenerateSettings, profile: Profile, config: BackendConfig) -> dict[str, Any]:
    """The settings that change what a run produces; resuming with other values is refused.
    Budgets, the target count, concurrency in steps 2-3, URLs and timeouts are not among them."""
    d = {
        "profile": profile.name, "seed": settings.seed, "finetune_seed": settings.finetune_seed,
        "threshold": settings.threshold, "framing": resolve_framing(settings.framing, config),
        "classification_only": settings.classification_only,
        "include_seed_instances": settings.include_seed_instances,
        "seed_tasks_sha256": settings.seed_tasks_sha256, "model": config.model, "api": config.api,
    }
    if profile.round_size is None and settings.request_batch_size is None:
        d["round_size"] = settings.concurrency
    if settings.request_max_tokens is not None:
        d["request_max_tokens"] = settings.request_max_tokens
    if settings.prompts_per_request > 1 and not profile.single_rng_stream:  # it groups the step-1 seeds
        d["prompts_per_request"] = settings.prompts_per_request
    for name in ("num_prompt_instructions", "request_batch_size", "max_instances_to_generate"):
        if getattr(settings, name) is not None:
            d[name] = getattr(settings, name)
    if settings.overlap_rounds:  # prompts sample an older pool
        d["overlap_rounds"] = True
    return d


def check_ranges(checks: Sequence[tuple[str, float | None, float, float | None]]) -> None:
    """(flag, value, low, high-or-None) for each number a run cannot use: the first out of range is
    refused with one line, before anything is written. None values were not given."""
    for flag, value, low, high in checks:
        if value is None:
            continue
        if value < low or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f">= {low}"
            raise InputError(f"must be {span}, got {value}", field=flag)
