"""The one protocol every language-model backend implements.

In the spirit of openai/simple-evals' sampler interface, but batched: the pipeline and the
evaluators hand a list of requests to `LanguageModel.generate` and get results back *in
request order*, so callers never reason about concurrency, retries or padding. A request that
fails after its retries comes back as a result with `finish_reason == "error"`; it never raises
and never aborts the batch.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "error"]
Message = dict[str, str]  # {"role": ..., "content": ...}


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    n: int = 1
    logprobs: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class LMRequest:
    """A text prompt (completions) or chat messages (chat), never both."""

    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    params: SamplingParams = field(default_factory=SamplingParams)

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("an LMRequest carries exactly one of prompt or messages")

    @property
    def is_chat(self) -> bool:
        return self.messages is not None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Came back in a Batch API batch (priced at batch rates): a backend that mixes batched and
    # live answers prices each result by its usage alone (`cost_of`), so the usage says which.
    batch: bool = field(default=False, compare=False)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __iadd__(self, other: "Usage") -> "Usage":
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        return self


@dataclass
class Choice:
    text: str
    finish_reason: FinishReason
    logprobs: Any = None


@dataclass
class LMResult:
    """What came back for one request. `text`/`finish_reason` mirror `choices[0]`."""

    choices: list[Choice]
    usage: Usage = field(default_factory=Usage)
    raw: dict | None = None
    error: str | None = None
    attempts: int = 1

    @property
    def text(self) -> str:
        return self.choices[0].text if self.choices else ""

    @property
    def finish_reason(self) -> FinishReason:
        return self.choices[0].finish_reason if self.choices else "error"

    @property
    def ok(self) -> bool:
        return self.error is None and self.finish_reason != "error"

    @classmethod
    def failure(cls, error: str, attempts: int = 1, raw: dict | None = None) -> "LMResult":
        return cls(choices=[Choice("", "error")], error=error, attempts=attempts, raw=raw)


ProgressCallback = Callable[[int], None]  # called with the number of requests just finished


class BackendInfo:
    """What a backend tells its callers besides results, with the values a backend that has
    nothing to say about them reports. Every backend inherits these defaults, so a caller reads
    `lm.cost_usd` or `lm.tokenizer` directly and never probes with getattr."""

    name: str = ""
    usage: Usage
    cost_usd: float = 0.0  # spent so far, at the backend's own prices
    max_context: int | None = None  # tokens of context, None when the server keeps it to itself
    tokenizer: Any = None  # the model's own tokenizer, local backends only
    is_encoder_decoder: bool = False
    concurrency: int = 1  # requests worth handing over in one generate() call
    # Hand me a whole step in one generate() call: a batch backend pays a wait per call, not per
    # request, and splits at its API's limits itself, so a caller's own chunks only add waits.
    whole_steps: bool = False
    concurrent_generate: bool = False  # generate() may be called from several threads at once
    prompts_per_request: int = 1  # completion prompts packed into one request
    in_flight: int | None = None  # requests awaiting an answer, when the backend can tell
    last_error: str | None = None  # the newest failure, for a live status line
    stats: Mapping[str, int]  # counters: requests, ok, failed, retries, "error:<kind>", ...

    def __init__(self) -> None:
        self.usage = Usage()
        self.stats = Counter()

    def cost_of(self, usage: Usage) -> float:
        """What one result's tokens cost: free unless the backend has prices."""
        return 0.0


def chunk_size_for(lm: "LanguageModel", default: int, pending: int) -> int:
    """Requests per generate() call for a caller that cuts `pending` requests into chunks of
    `default` (to save work as it goes, or to bound a local model's padding): every one of them
    at once when the backend asks for whole steps."""
    return max(1, pending if lm.whole_steps else default)


@runtime_checkable
class LanguageModel(Protocol):
    """A backend. `name` identifies the model in manifests and file names; the attributes are
    those of `BackendInfo`, which every backend here inherits."""

    name: str
    usage: Usage
    cost_usd: float
    max_context: int | None
    tokenizer: Any
    is_encoder_decoder: bool
    concurrency: int
    whole_steps: bool
    concurrent_generate: bool
    prompts_per_request: int
    in_flight: int | None
    last_error: str | None
    stats: Mapping[str, int]

    def generate(
        self, requests: Sequence[LMRequest], progress: ProgressCallback | None = None
    ) -> list[LMResult]:
        """Run every request; return one result per request, in order."""
        ...

    def cost_of(self, usage: Usage) -> float:
        ...

    def close(self) -> None:
        ...
