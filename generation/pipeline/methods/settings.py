"""What a family-method run is configured with, and which settings decide its output."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ...lm.config import BackendConfig

METHODS = ("self-instruct", "unnatural", "evol")
# Free to change between invocations of one run: they change how fast or how far, not what.
_UNHASHED = {"concurrency", "max_cost", "max_tokens", "max_failures", "replay_of"}


@dataclass
class MethodSettings:
    method: str
    seed: int = 42
    framing: str = "completion"
    concurrency: int = 16
    max_cost: float | None = None
    max_tokens: int | None = None
    request_max_tokens: int | None = None
    max_failures: int = 32
    dedup: str = "none"  # none | rouge-l: the near-duplicate filter on the method's instructions
    threshold: float = 0.7
    finetune_seed: int = 123
    # Unnatural Instructions
    num_examples: int = 20  # core-generation requests, each asking for one new example
    seed_examples: str | None = None
    seed_examples_sha256: str | None = None
    paraphrases: int = 2  # alternative formulations asked for per kept example (0: no expansion)
    # Evol-Instruct
    epochs: int = 4
    pool: str | None = None  # where the starting instructions came from
    pool_sha256: str | None = None
    pool_limit: int | None = None
    replay_of: str | None = None

    def hashed(self, config: BackendConfig) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in _UNHASHED}
        out["model"] = config.model
        return out

    def cap(self, max_tokens: int) -> int:
        """A request's max_tokens under --request-max-tokens (small local models)."""
        c = self.request_max_tokens
        return max_tokens if c is None else max(1, min(max_tokens, c))
