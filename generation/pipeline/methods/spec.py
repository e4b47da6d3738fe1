"""A method's spec: its prompt texts and, per stage, the sampling settings, stops and parser,
read from `specs/<method>.yaml` the way the Self-Instruct steps' specs are."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from ...lm.base import LMRequest
from ...specfile import read_packaged_yaml
from ..profiles import StepSpec, step_spec
from ..prompt_texts import load_prompt_data
from ..templates import frame
from .settings import MethodSettings


@dataclass(frozen=True)
class MethodSpec:
    method: str
    texts: dict[str, Any]  # the prompts/<template>.json data
    stages: dict[str, StepSpec]
    options: dict[str, Any]

    def request(self, stage: str, prompt: str, settings: MethodSettings, **override: Any) -> LMRequest:
        """One stage's request for `prompt`, framed as the run's framing asks."""
        spec = self.stages[stage]
        completion = settings.framing == "completion"
        params = spec.params(completion=completion, max_tokens=settings.cap(spec.sampling["max_tokens"]), **override)
        return frame(stage, prompt, params, settings.framing, chat=self.texts["chat"][stage])


@cache
def load_method_spec(method: str) -> MethodSpec:
    data = read_packaged_yaml("selfinstruct.generation.pipeline", "specs", f"{method}.yaml")
    stages = {name: step_spec({"step": name, **body}) for name, body in data["stages"].items()}
    rest = {k: v for k, v in data.items() if k not in ("method", "template", "stages")}
    return MethodSpec(data["method"], load_prompt_data(data["template"]), stages, rest)
