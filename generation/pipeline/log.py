"""The request log as the steps see it: every recorded exchange, indexed by what it answers.

`requests.jsonl` is the run's source of truth. A fresh run, a resumed run and a replay differ
only in what this index holds when the steps start: the steps ask it for the answer to a prompt
before anything is sent, so a resumed run rebuilds its state by re-applying its own answers.
The driver appends records (`make_records`) and adds them here; nothing in this module writes.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..lm.base import LMRequest, LMResult, SamplingParams
from .templates import request_prompt_record

MODEL_STEPS = ("bootstrap", "classify", "instances")


@dataclass
class StepStats:
    requests: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


def choice(rec: dict) -> tuple[str, str | None] | None:
    """(text, finish_reason) of a record's first choice; None for a failed request."""
    resp = rec.get("response")
    if not resp or not resp.get("choices"):
        return None
    c = resp["choices"][0]
    return c.get("text") or "", c.get("finish_reason")


def is_chat(rec: dict) -> bool:
    return isinstance(rec.get("prompt"), list)


def prompt_text(rec: dict) -> str:
    """The prompt a record answered; for the chat framing, the user message that carries it."""
    p = rec.get("prompt")
    if isinstance(p, list):
        return next((m["content"] for m in p if m.get("role") == "user"), "")
    return p or ""


class RequestIndex:
    """Recorded exchanges: step 1's by (round, position), every other step's by its key (steps 2
    and 3: the instruction; the other methods' stages: what their request is about)."""

    def __init__(self, *, retry_failed: bool) -> None:
        self.retry_failed = retry_failed
        self.stats = {s: StepStats() for s in MODEL_STEPS}
        self.bootstrap: dict[tuple[int, int], dict] = {}
        self._keyed: dict[tuple[str, str], list[dict]] = {}

    def add_all(self, records: Iterable[dict]) -> None:
        for rec in records:
            self.add(rec)

    def add(self, rec: dict) -> None:
        step = rec.get("step")
        st = self.stats.get(step)
        if st is None and step is not None and "key" in rec:  # a stage of another method
            st = self.stats[step] = StepStats()
        if st is not None:
            st.requests += 1
            st.failures += rec.get("response") is None
            usage = rec.get("usage") or {}
            st.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            st.completion_tokens += int(usage.get("completion_tokens") or 0)
            st.cost_usd += float(rec.get("cost_usd") or 0.0)
        if step == "bootstrap":
            self.bootstrap[(int(rec["round"]), int(rec["position"]))] = rec
        elif "key" in rec:
            self._keyed.setdefault((step, rec["key"]), []).append(rec)

    def has_key(self, step: str, key: str) -> bool:
        """Whether any record, failed or not, answers `key` in `step`."""
        return (step, key) in self._keyed

    def has(self, step: str) -> bool:
        return any(s == step for s, _ in self._keyed)

    def result(self, step: str, key: str) -> dict | None:
        """The record that decides `key` in `step`: the last successful one; a failed one only
        where failures are final (upstream writes "" and moves on)."""
        recs = self._keyed.get((step, key))
        if not recs:
            return None
        for rec in reversed(recs):
            if rec.get("response") is not None:
                return rec
        return None if self.retry_failed else recs[-1]

    def answer(self, step: str, key: str) -> tuple[dict, str] | None:
        """(deciding record, its completion text; "" for a failed one) or None while pending."""
        rec = self.result(step, key)
        if rec is None:
            return None
        c = choice(rec)
        return rec, (c[0] if c else "")

    def over_budget(self, max_tokens: int | None, max_cost: float | None) -> bool:
        """Whether the run has spent its token or dollar budget (None: no limit)."""
        return ((max_tokens is not None and self.tokens_used >= max_tokens)
                or (max_cost is not None and self.cost_used >= max_cost))

    @property
    def tokens_used(self) -> int:
        return sum(s.prompt_tokens + s.completion_tokens for s in self.stats.values())

    @property
    def cost_used(self) -> float:
        return sum(s.cost_usd for s in self.stats.values())


def _response_dict(result: LMResult) -> dict | None:
    if not result.ok:
        return None
    return {"choices": [{"text": c.text, "index": i, "logprobs": c.logprobs, "finish_reason": c.finish_reason}
                        for i, c in enumerate(result.choices)]}


def make_records(step: str, requests: Sequence[LMRequest], meta: Sequence[dict], results: Sequence[LMResult],
                 costs: Sequence[float], created: str) -> list[dict[str, Any]]:
    """The log records of one batch of exchanges, in request order."""
    out = []
    params: dict[SamplingParams, dict] = {}  # a batch's requests share a few settings: convert each once
    for req, m, res, cost in zip(requests, meta, results, costs):
        p = params.get(req.params)
        if p is None:
            p = params[req.params] = asdict(req.params)
        out.append({"step": step, **m, "prompt": request_prompt_record(req), "params": p,
                    "response": _response_dict(res),
                    "usage": {"prompt_tokens": res.usage.prompt_tokens, "completion_tokens": res.usage.completion_tokens},
                    "error": res.error if not res.ok else None, "created_at": created, "cost_usd": cost})
    return out
