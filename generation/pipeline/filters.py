"""The two filters of the method: instructions (heuristics, then ROUGE-L against everything
kept so far) and instances (invalid, conflicting, duplicate, at most five per task).

Pure over plain data plus the similarity index; the caller decides what to persist.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..exact_dups import RULE as EXACT_DUPLICATE, ExactDuplicates, copy_score, exact_key
from .heuristics import heuristic_rejection
from .parsing import Dropped

MAX_INSTANCES_PER_TASK = 5


@dataclass
class Verdict:
    """What the instruction filter decided about one candidate."""

    candidate: str
    rule: str | None  # None = kept
    score: float | None = None  # rejected by similarity: the highest ROUGE-L
    nearest: str | None = None
    pool_index: int | None = None  # kept: its index in the similarity pool
    most_similar: dict[str, float] | None = None  # kept by `judge_many`: the upstream record fields
    avg_similarity_score: float | None = None

    @property
    def kept(self) -> bool:
        return self.rule is None


class InstructionFilter:
    """Heuristics, then the near-duplicate test against seeds plus every instruction kept so
    far (including those kept earlier from the same response, as upstream does).

    `judge` decides and, when it keeps, adds to the pool at once; the upstream record fields
    (`most_similar`, `avg_similarity_score`: scores against the pool as it was when the
    instruction was kept) come afterwards from `metadata`, in one batch per round, because
    they need a score against every pool entry and batching that is several times cheaper.

    `top_k_order` is how `most_similar` orders equal scores: "upstream" (numpy's unstable
    argsort, reproduced bit for bit; a full sort of the pool per record) or "stable" (ties by
    pool index; a partial selection, several times cheaper against a big pool).

    With `exact_duplicates`, a candidate equal to a pool entry after whitespace and case
    normalisation goes first ("exact_duplicate"): ROUGE-L sees no token in a text without a-z/0-9
    (Chinese, Cyrillic...), so it lets every copy of one through.
    """

    def __init__(self, seed_instructions: list[str], *, threshold: float = 0.7, inclusive: bool = False,
                 index_factory=None, top_k_order: str = "upstream", exact_duplicates: bool = False) -> None:
        from ..similarity.metadata import ORDERS

        if top_k_order not in ORDERS:
            raise ValueError(f"unknown top-k order {top_k_order!r}; expected one of {ORDERS}")
        if index_factory is None:
            from ..similarity import RougeLIndex as index_factory
        self.threshold = threshold
        self.inclusive = inclusive
        self.top_k_order = top_k_order
        self.index = index_factory(seed_instructions, threshold=threshold, inclusive=inclusive)
        self.exact: ExactDuplicates | None = ExactDuplicates(seed_instructions) if exact_duplicates else None
        track = getattr(self.index, "track_metadata", None)  # metadata is asked for every round
        if track is not None:
            track()

    def judge(self, candidate: str) -> Verdict:
        """Keep (and add to the pool) or reject with the rule, score and nearest entry."""
        rule = heuristic_rejection(candidate)
        if rule is not None:
            return Verdict(candidate, rule)
        key = self._key(candidate)
        copied = self._copied(candidate, key)
        if copied is not None:
            return copied
        decision = self.index.admit(candidate)
        if decision.kept:
            self._keep(candidate, key)
            return Verdict(candidate, None, pool_index=decision.index)
        return Verdict(candidate, "rouge_l", score=decision.score, nearest=self.index.text(decision.index))

    def judge_many(self, candidates: list[str], limit: int | None = None) -> list[Verdict | None]:
        """`judge` for each candidate in order, each meeting the pool plus those kept before it,
        until `limit` are kept (later candidates that pass the heuristics: None). Kept verdicts
        carry their record fields, computed from the same scores as the verdict."""
        verdicts: list[Verdict | None] = [None] * len(candidates)
        passing = []
        keys: dict[int, str | None] = {}  # each candidate normalised once, for every exact check
        batch_copies = ExactDuplicates()  # a copy of an earlier candidate of this batch goes too
        for i, cand in enumerate(candidates):
            rule = heuristic_rejection(cand)
            copied = None
            if rule is None:
                keys[i] = key = self._key(cand)
                copied = self._copied(cand, key, batch_copies)
            if rule is None and copied is None:
                passing.append(i)
                if key is not None:
                    batch_copies.add(cand, key=key)
            else:
                verdicts[i] = copied or Verdict(cand, rule)
        batch = getattr(self.index, "admit_batch", None)
        if batch is None:  # an index without batches: one admit each, then the fields
            decided = []
            for i in passing:
                if limit is not None and len(decided) >= limit:
                    break
                verdicts[i] = v = self.judge(candidates[i])
                if v.kept:
                    decided.append(v)
            for v, (most_similar, avg) in zip(decided, self.metadata([v.pool_index for v in decided])):
                v.most_similar, v.avg_similarity_score = most_similar, avg
            return verdicts
        results = batch([candidates[i] for i in passing], limit=limit, order=self.top_k_order)
        for i, res in zip(passing, results):
            if res is None:
                continue
            decision, meta = res
            cand = candidates[i]
            if decision.kept:
                self._keep(cand, keys[i])
                verdicts[i] = Verdict(cand, None, pool_index=decision.index, most_similar=meta.most_similar,
                                      avg_similarity_score=float(meta.avg_similarity_score))
            else:
                verdicts[i] = Verdict(cand, "rouge_l", score=decision.score, nearest=self.index.text(decision.index))
        return verdicts

    def _key(self, candidate: str) -> str | None:
        """The candidate's exact-copy key, or None when the rule is off."""
        return None if self.exact is None else exact_key(candidate)

    def _copied(self, candidate: str, key: str | None, *batches: ExactDuplicates) -> Verdict | None:
        """An exact_duplicate verdict when `candidate` copies the pool (or an earlier candidate
        of its batch); None when it copies nothing or the rule is off."""
        if key is None:
            return None
        for seen in (self.exact, *batches):
            original = seen.first(candidate, key)
            if original is not None:
                return Verdict(candidate, EXACT_DUPLICATE, score=copy_score(candidate), nearest=original)
        return None

    def _keep(self, candidate: str, key: str | None) -> None:
        if key is not None:
            self.exact.add(candidate, key=key)

    def metadata(self, pool_indices: list[int]) -> list[tuple[dict[str, float], float]]:
        """(most_similar, avg_similarity_score) of each pool entry against the entries before it."""
        if not pool_indices:
            return []
        metadata = self.index.member_metadata(pool_indices, order=self.top_k_order)
        return [(m.most_similar, float(m.avg_similarity_score)) for m in metadata]


# -- instances ---------------------------------------------------------------------------------
def invalid_reason(inp: str, out: str) -> str | None:
    if inp == out:
        return "input_equals_output"
    if out == "":
        return "empty_output"
    if inp.strip().endswith(":") or out.strip().endswith(":"):
        return "ends_with_colon"
    return None


def filter_instances(
    pairs: list[tuple[str, str]], rng: random.Random, *, cap: int = MAX_INSTANCES_PER_TASK
) -> tuple[list[tuple[str, str]], list[Dropped]]:
    """Invalid pairs out; a task whose non-empty input maps to two outputs loses everything
    (the model contradicted itself); exact duplicates out (first occurrence kept, so the result
    never depends on hash order); then `rng.sample` down to `cap` pairs.

    `rng.sample` is called even when nothing needs dropping, because upstream does so and its
    draws shift the stream used later for finetuning templates.
    """
    dropped: list[Dropped] = []
    valid = []
    for p in pairs:
        if invalid_reason(*p) is not None:
            dropped.append(Dropped({"input": p[0], "output": p[1]}, "invalid_instance"))
        else:
            valid.append(p)
    outputs_by_input: dict[str, str] = {}
    conflict = False
    for inp, out in valid:
        if inp == "":
            continue
        if inp in outputs_by_input and outputs_by_input[inp] != out:
            conflict = True
            break
        outputs_by_input.setdefault(inp, out)
    if conflict:
        dropped += [Dropped({"input": i, "output": o}, "conflicting_outputs") for i, o in valid]
        valid = []
    unique = list(dict.fromkeys(valid))
    seen: set = set()
    for p in valid:
        if p in seen:
            dropped.append(Dropped({"input": p[0], "output": p[1]}, "duplicate"))
        seen.add(p)
    chosen = rng.sample(unique, min(len(unique), cap))
    chosen_set = set(chosen)
    dropped += [Dropped({"input": i, "output": o}, "over_cap") for i, o in unique if (i, o) not in chosen_set]
    return chosen, dropped
