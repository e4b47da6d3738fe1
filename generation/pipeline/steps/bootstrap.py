"""Step 1, bootstrap: prompts of pool instructions in, new instructions kept by the filters.

A round is `round_size` prompts. `plan` says which of a round's prompts still need an answer
(the request log may hold the others) and builds their requests; `apply` parses and filters a
round's answers in prompt order and updates the state. Both are pure over the state, so a
resumed run and a replay go through exactly the decisions of the run that recorded the log.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ...lm.base import LMRequest
from ...records import KeptInstruction, Rejection, instruction_id, response_metadata
from ..log import choice, is_chat, prompt_text
from ..parsing import parse_instruction_response
from ..profiles import Profile
from ..prompt_texts import PromptTexts
from ..sampling import request_seed, round_rng, sample_prompt_instructions
from ..settings import GenerateSettings
from ..state import RunState
from ..templates import bootstrap_prompt, frame


@dataclass
class RoundPlan:
    """Round r: the recorded answer of each prompt (None: still to send) and the requests for
    the missing ones, with what the log records beside each."""

    r: int
    recs: list[dict | None]
    missing: list[int] = field(default_factory=list)
    requests: list[LMRequest] = field(default_factory=list)
    meta: list[dict] = field(default_factory=list)


class BootstrapStep:
    name = "bootstrap"

    def __init__(self, settings: GenerateSettings, profile: Profile, framing: str, seed_instructions: list[str],
                 texts: Callable[[], PromptTexts]) -> None:
        self.settings, self.profile, self.framing, self.texts = settings, profile, framing, texts
        self.spec = profile.spec("bootstrap")
        sizes = self.spec.options["prompt"]
        self.num_prompt = min(settings.num_prompt_instructions or sizes["num_prompt_instructions"],
                              len(seed_instructions))
        self.num_machine = min(sizes["num_machine_instructions"], self.num_prompt)
        self.round_size = round_size(settings, profile)
        self.rng = random.Random(settings.seed)  # upstream: one stream per process

    # -- what to send ---------------------------------------------------------------------------
    def target_reached(self, state: RunState) -> bool:
        n = self.settings.num_instructions
        return n is not None and len(state.kept) >= n

    def prompts(self, state: RunState, r: int) -> list[str]:
        """Round r's prompts. With overlapped rounds they sample the pool as it was before round
        r-1 was filtered, so the round can be sent while r-1 is still being judged."""
        rng = self.rng if self.profile.single_rng_stream else round_rng(self.settings.seed, r)
        machine = state.machine
        if self.settings.overlap_rounds:
            machine = machine[:state.pool_marks[r - 2] if r >= 2 else 0]
        texts = self.texts()
        return [bootstrap_prompt(sample_prompt_instructions(rng, state.seed_instructions, machine,
                                                            num_prompt=self.num_prompt, num_machine=self.num_machine),
                                 classification=self.settings.classification_only, texts=texts)
                for _ in range(self.round_size)]

    def plan(self, state: RunState, r: int) -> RoundPlan:
        prompts = self.prompts(state, r)
        recs: list[dict | None] = []
        for j, prompt in enumerate(prompts):
            rec = state.log.bootstrap.get((r, j))
            recs.append(rec if rec is not None and prompt_text(rec) == prompt else None)
        plan = RoundPlan(r, recs, [j for j, rec in enumerate(recs) if rec is None])
        size = self.round_size
        base = state.round_base + (size if r > state.next_round else 0)
        for j in plan.missing:
            # upstream: one API call per round of 5 prompts; default: one call per prompt
            idx = r if self.profile.single_rng_stream else base + j
            plan.requests.append(frame("bootstrap", prompts[j], self.params(idx), self.framing))
            plan.meta.append({"round": r, "position": j, "round_size": size, "request_idx": idx})
        return plan

    def params(self, request_idx: int):
        # Only requests with equal params can share an HTTP request, so with packing the K
        # consecutive requests of a pack share one seed (a server seeds each prompt of a list).
        k = max(1, self.settings.prompts_per_request)
        seed = None if self.profile.single_rng_stream else request_seed(
            self.settings.seed, request_idx // k if k > 1 else request_idx)
        return self.spec.params(completion=self.framing == "completion",
                                max_tokens=cap(self.spec.sampling["max_tokens"], self.settings), seed=seed)

    # -- what the answers do ----------------------------------------------------------------------
    def apply(self, state: RunState, recs: Sequence[dict]) -> None:
        """Parse and filter one round's responses in prompt order.

        The candidates of the whole round are judged in one batch (each still meets everything
        kept before it); rejections keep their order: a response's parse drops, then its
        candidates."""
        parsed = []
        for rec in recs:
            c = choice(rec)
            if c is not None:
                parsed.append((rec, *parse_instruction_response(c[0], c[1], self.profile, chat=is_chat(rec))))
        n = self.settings.num_instructions
        limit = max(0, n - len(state.kept)) if n is not None and self.profile.trim_to_target else None
        verdicts = iter(state.filter.judge_many([c for _, cands, _ in parsed for c in cands], limit))
        for rec, cands, dropped in parsed:
            state.candidates += len(dropped)  # a candidate the parse dropped is still a candidate
            for d in dropped:
                _reject(state, rec, d.candidate, d.rule)
            metadata = None  # one dict for every instruction kept from this response
            for cand in cands:
                v = next(verdicts)
                state.candidates += 1
                if self.target_reached(state) and self.profile.trim_to_target:
                    _reject(state, rec, cand, "target_reached")
                    continue
                if not v.kept:
                    _reject(state, rec, cand, v.rule, v.score, v.nearest)
                    continue
                state.machine.append(cand)
                if metadata is None:
                    metadata = response_metadata(rec)
                state.kept.append(KeptInstruction(
                    id=instruction_id(len(state.kept)), instruction=cand, most_similar=v.most_similar,
                    avg_similarity_score=v.avg_similarity_score, request_idx=rec.get("request_idx"),
                    metadata=metadata))

    def close_round(self, state: RunState) -> None:
        state.pool_marks.append(len(state.machine))
        state.next_round += 1
        state.round_base += self.round_size


def _reject(state: RunState, rec: dict, cand: str, rule: str, score: float | None = None,
            nearest: str | None = None) -> None:
    state.rule_counts[rule] += 1
    state.boot_rejected.append(Rejection("bootstrap", rec.get("request_idx"), cand, rule, score, nearest))


def round_size(settings: GenerateSettings, profile: Profile) -> int:
    """Step-1 prompts per round: --request-batch-size, else the profile's, else --concurrency."""
    return settings.request_batch_size or profile.round_size or settings.concurrency


def cap(max_tokens: int, settings: GenerateSettings) -> int:
    """A request's max_tokens under --request-max-tokens (small local models)."""
    c = settings.request_max_tokens
    return max_tokens if c is None else max(1, min(max_tokens, c))
