"""Turn prompts into predictions with any backend, appending each finished chunk to the
predictions file so an interrupted run resumes where it stopped.

Every backend goes through `LanguageModel.generate` at temperature 0 (greedy). For the local
transformers backend, which batches and pads itself, we order the pending prompts by task and,
inside a task, by token length (longest first, so an out-of-memory batch shows up at once)
before cutting them into chunks: a task's prompts share its definition (and, for tk-instruct,
its examples), which the backend prefills once per batch, and neighbours in length pad little.
For the OpenAI-compatible client (a vLLM server or an API model) chunks simply bound how much
work a crash can lose; a batch backend (`--batch-api`) gets every pending prompt in one call, as
each call is a wait for a batch and its ledger already keeps what a crash would lose.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from selfinstruct.generation.lm.base import LanguageModel, LMRequest, SamplingParams, chunk_size_for

from .files import PredictionLog
from .prompts import CharTokenCounter, HFTokenCounter, Prompt, TokenCounter


@dataclass
class GenerationStats:
    requested: int = 0
    generated: int = 0
    skipped_existing: int = 0
    errors: int = 0
    stopped_by_length: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["error_examples"] = self.error_examples[:5]
        d["seconds"] = round(self.seconds, 3)
        d["instances_per_second"] = round(self.generated / self.seconds, 4) if self.seconds else None
        return d


def is_local(backend: LanguageModel) -> bool:
    """A local model whose tokenizer we can count with (the transformers backend)."""
    return backend.tokenizer is not None


def token_counter_for(backend: LanguageModel) -> TokenCounter:
    """The model's own tokenizer when we have it, else the character estimate."""
    return HFTokenCounter(backend.tokenizer) if is_local(backend) else CharTokenCounter()


def prompt_budget(backend: LanguageModel, max_new_tokens: int, max_context: int | None = None) -> int | None:
    """Tokens a prompt may use: the context minus room for the answer (decoder-only), or the
    whole encoder context (encoder-decoder). None when the context length is unknown (API
    models without --max-context: the server is left to judge)."""
    ctx = max_context or backend.max_context
    if not ctx:
        return None
    if backend.is_encoder_decoder:
        return int(ctx)
    return max(int(ctx) - max_new_tokens, 1)


def generate_predictions(backend: LanguageModel, prompts: Sequence[Prompt], log: PredictionLog, *, max_new_tokens: int,
                         stop: Sequence[str] = (), chunk_size: int | None = None,
                         progress: bool = True) -> GenerationStats:
    """Predict every prompt whose id is not in `log` yet; append results chunk by chunk.

    A request that fails (API errors after retries) is not written, so the next run retries
    it; failures are counted in the stats.
    """
    from tqdm import tqdm

    stats = GenerationStats(requested=len(prompts))
    pending = [p for p in prompts if p.id not in log.done]
    stats.skipped_existing = len(prompts) - len(pending)
    local = is_local(backend)
    if local:
        counter = token_counter_for(backend)
        lengths = {p.id: counter.count(p.text) for p in pending}
        pending.sort(key=lambda p: (p.task, -lengths[p.id]))
    chunk_size = chunk_size_for(backend, chunk_size or backend.concurrency * 4, len(pending))
    params = SamplingParams(max_tokens=max_new_tokens, temperature=0.0, top_p=1.0, stop=tuple(stop))
    bar = tqdm(total=len(pending), desc="superni predict", unit="inst", disable=not progress)
    t0 = time.perf_counter()
    try:
        for start in range(0, len(pending), chunk_size):
            chunk = pending[start:start + chunk_size]
            results = backend.generate([LMRequest(prompt=p.text, params=params) for p in chunk], progress=bar.update)
            ok = []
            for p, r in zip(chunk, results):
                if not r.ok:
                    stats.errors += 1
                    stats.error_examples.append(f"{p.id}: {r.error}")
                    continue
                stats.generated += 1
                stats.prompt_tokens += r.usage.prompt_tokens
                stats.completion_tokens += r.usage.completion_tokens
                stats.stopped_by_length += r.finish_reason == "length"
                ok.append((p.id, r.text))
            log.write(ok)
    finally:
        bar.close()
        stats.seconds = time.perf_counter() - t0
    return stats
