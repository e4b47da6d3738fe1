"""The behaviour profiles and the step specs they overlay, read from data files.

A step's spec (`specs/<step>.yaml`) holds what the step sends: its template, sampling settings,
stop strings and parser. A profile (`profiles/<name>.yaml`) holds the rules that decide what is
kept, each one documented difference between the released scripts (`upstream`) and the paper's
method with their quirks fixed (`default`), plus overlays on the step specs. Code branches on a
rule, never on a profile's name, so a new profile is a new file.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from ..errors import InputError
from ..lm.base import SamplingParams
from ..specfile import overlay, read_packaged_yaml

_PACKAGE = "selfinstruct.generation.pipeline"
STEP_NAMES = ("bootstrap", "classify", "instances", "finetune")


@dataclass(frozen=True)
class StepSpec:
    """One step's request settings, after the profile's overlay."""

    step: str
    template: Any  # a prompts/ file name, or one per task kind
    parser: str | None
    sampling: dict[str, Any]
    stop: tuple[str, ...]
    options: dict[str, Any]  # everything else the step's file sets (prompt sizes, token limits)

    def params(self, *, completion: bool, **override: Any) -> SamplingParams:
        """The request's sampling settings; logprobs only where the framing is a completion."""
        values = {**self.sampling, "stop": self.stop, **override}
        if not completion:
            values["logprobs"] = None
        return SamplingParams(**values)


@dataclass(frozen=True)
class Profile:
    name: str
    lowercase_rest: bool
    drop_truncated_response: bool
    inclusive_threshold: bool
    per_task_instance_rng: bool
    clf_file_model: str | None
    retry_failed_requests: bool
    single_rng_stream: bool
    round_size: int | None
    lenient_yes: bool
    batch_max_tokens: bool
    trim_to_target: bool
    upstream_top_k_order: bool
    shrink_max_tokens: bool
    drop_exact_duplicates: bool
    specs: dict[str, StepSpec] = field(compare=False, hash=False, repr=False)

    def spec(self, step: str) -> StepSpec:
        return self.specs[step]

    @property
    def bootstrap_stop(self) -> tuple[str, ...]:
        return self.specs["bootstrap"].stop

    @property
    def split_pattern(self) -> str:
        return self.specs["bootstrap"].options["parser_options"]["split_pattern"]


def step_spec(data: dict[str, Any]) -> StepSpec:
    rest = {k: v for k, v in data.items() if k not in ("step", "template", "parser", "sampling", "stop")}
    return StepSpec(step=data["step"], template=data.get("template"), parser=data.get("parser"),
                    sampling=dict(data.get("sampling") or {}), stop=tuple(data.get("stop") or ()), options=rest)


_RULES = tuple(f.name for f in fields(Profile) if f.name not in ("name", "specs"))


@lru_cache(maxsize=None)
def get_profile(name: str) -> Profile:
    try:
        data = read_packaged_yaml(_PACKAGE, "profiles", f"{name}.yaml")
    except FileNotFoundError:
        raise InputError(f"unknown profile {name!r} (choose from {', '.join(PROFILE_NAMES)})",
                         field="--profile") from None
    overlays = data.get("steps") or {}
    specs = {s: step_spec(overlay(read_packaged_yaml(_PACKAGE, "specs", f"{s}.yaml"), overlays.get(s) or {})) for s in STEP_NAMES}
    rules = data["rules"]
    return Profile(name=data["name"], specs=specs, **{r: rules[r] for r in _RULES})


PROFILE_NAMES = ("default", "upstream")
DEFAULT = get_profile("default")
UPSTREAM = get_profile("upstream")
