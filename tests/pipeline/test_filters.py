"""The instruction filter in both profiles: heuristics, then ROUGE-L with > or >= at the threshold."""
from __future__ import annotations

import pytest

from selfinstruct.generation.pipeline.filters import InstructionFilter
from selfinstruct.generation.pipeline.heuristics import heuristic_rejection
from selfinstruct.generation.similarity import rouge_l
from selfinstruct.generation.similarity.argsort_legacy import legacy_argsort_tail


@pytest.mark.parametrize("text,rule", [
    ("", "empty"),
    ("Too short here", "too_short"),
    (" ".join(["word"] * 151), "too_long"),
    ("Describe the image in detail please.", "blocked_word"),
    ("How do I Go To the station quickly?", "blocked_word"),
    ("Write a program that adds numbers.", "write_a_program"),
    ("\"Quote\" this sentence back to me.", "starts_with_punctuation"),
    ("Écris une phrase en français maintenant.", "starts_with_non_ascii"),
    ("Describe the imagery in this poem.", None),
])
def test_heuristics(text, rule):
    assert heuristic_rejection(text) == rule


def test_threshold_strict_vs_inclusive():
    seed = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    # 7 of 10 tokens shared with equal lengths: ROUGE-L F = 0.7 exactly
    cand = "alpha beta gamma delta epsilon zeta eta one two three"
    assert rouge_l(seed, cand) == pytest.approx(0.7)
    score = rouge_l(seed, cand)
    upstream = InstructionFilter([seed], threshold=score, inclusive=False)
    default = InstructionFilter([seed], threshold=score, inclusive=True)
    assert upstream.judge(cand.capitalize()).kept  # exactly at the threshold: kept upstream
    v = default.judge(cand.capitalize())
    assert not v.kept and v.rule == "rouge_l" and v.score == pytest.approx(score) and v.nearest == seed


def test_pool_grows_within_a_response_and_metadata_is_against_the_earlier_pool():
    f = InstructionFilter(["Write a poem about the sea."], threshold=0.7)
    a = f.judge("Tell me a story about a brave knight.")
    b = f.judge("Tell me a story about a brave knight today.")  # near-copy of a, kept a moment ago
    assert a.kept and not b.kept and b.nearest == "Tell me a story about a brave knight."
    c = f.judge("List the planets of the solar system.")
    (ms_a, avg_a), (ms_c, avg_c) = f.metadata([a.pool_index, c.pool_index])
    assert list(ms_a) == ["Write a poem about the sea."]
    assert set(ms_c) == {"Write a poem about the sea.", "Tell me a story about a brave knight."}
    assert avg_c == pytest.approx((rouge_l("Write a poem about the sea.", c.candidate)
                                   + rouge_l(a.candidate, c.candidate)) / 2)
    assert f.judge("Draw a map of the city for me.").rule == "blocked_word"


@pytest.mark.parametrize("order", ["upstream", "stable"])
def test_round_metadata_orders_ties_by_profile_rule(order):
    import numpy as np

    seeds = ["write a poem", "write a song", "write a poem", "draw a cat", "write a story"] * 3
    f = InstructionFilter(seeds, threshold=0.95, top_k_order=order)
    kept = [f.judge(c) for c in ("Write a letter to my friend.", "Compose a letter for my aunt.")]
    assert all(v.kept for v in kept)
    for v, (most_similar, avg) in zip(kept, f.metadata([v.pool_index for v in kept])):
        pool = [f.index.text(i) for i in range(v.pool_index)]  # the pool when it was kept
        scores = [rouge_l(p, v.candidate) for p in pool]
        if order == "stable":  # highest score first, equal scores by pool position
            ranked = sorted(range(len(pool)), key=lambda i: (-scores[i], i))[:10]
        else:  # upstream's expression
            ranked = list(legacy_argsort_tail(np.array(scores, dtype=float), 10)[::-1])
        assert list(most_similar.items()) == list({pool[i]: scores[i] for i in ranked}.items())
        assert avg == float(np.mean(scores))


def test_unknown_top_k_order_is_rejected():
    with pytest.raises(ValueError, match="top-k order"):
        InstructionFilter(["Write a poem about the sea."], top_k_order="random")


class _OneAtATimeIndex:
    """An index with only the per-text interface (no `admit_batch`), as a custom one may be."""

    def __init__(self, texts, **kw):
        from selfinstruct.generation.similarity import RougeLIndex

        self._index = RougeLIndex(texts, **kw)

    def admit(self, text):
        return self._index.admit(text)

    def text(self, i):
        return self._index.text(i)

    def member_metadata(self, indices, order):
        return self._index.member_metadata(indices, order=order)


@pytest.mark.parametrize("limit", [None, 1])
def test_judge_many_is_the_same_with_or_without_batches(limit):
    seeds = ["Write a poem about the sea.", "List three fruits that are red."]
    cands = ["Write a poem about the sea today.", "Draw a map of the city.", "Explain how tides work in detail.",
             "List three fruits that are red.", "Name a color.", "Summarize the plot of a famous novel for kids.",
             "Describe how a bicycle gear system works."]
    batched = InstructionFilter(seeds, top_k_order="stable").judge_many(cands, limit)
    single = InstructionFilter(seeds, top_k_order="stable", index_factory=_OneAtATimeIndex).judge_many(cands, limit)
    assert batched == single
    rules = [v.rule if v else "unjudged" for v in batched][:5]
    assert rules == ["rouge_l", "blocked_word", None, "unjudged" if limit else "rouge_l", "too_short"]
    assert sum(v is not None and v.kept for v in batched) == (limit or 2)  # "plot" is a blocked word
