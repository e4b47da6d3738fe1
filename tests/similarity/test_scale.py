"""The screens that take over at scale (issue 19): the pair index, its re-ranking, the bounded
top-10 and the named mean estimate, all against rouge_score or a whole row of scores.

The pair index normally starts at a pool of tens of thousands and re-ranks from a thousand
entries; these tests lower both (class attributes) so small pools take every path.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.generation.similarity import RougeLIndex
from selfinstruct.generation.similarity.postings import OccurrenceIndex, PairIndex

from .conftest import assert_agrees_with_whole_rows, assert_decisions_are_upstream, ref_filter, ref_scores, texts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import million_corpus as mc  # noqa: E402


@contextlib.contextmanager
def pairs_from_the_start(rebuild_min: int = 3, levels: tuple = ()):
    saved = RougeLIndex.pair_min_pool, PairIndex.rebuild_min, RougeLIndex.top_k_levels
    RougeLIndex.pair_min_pool, PairIndex.rebuild_min, RougeLIndex.top_k_levels = 0, rebuild_min, levels
    try:
        yield
    finally:
        RougeLIndex.pair_min_pool, PairIndex.rebuild_min, RougeLIndex.top_k_levels = saved


few_words = texts(max_words=30, words=["a", "b", "c", "d", "b", "e", "f"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(texts(), few_words), max_size=40), st.lists(texts(), max_size=5),
       st.sampled_from([0.7, 0.75, 0.9, 0.68, 0.5, 0.99, 1.0]), st.booleans())
def test_pair_index_keeps_what_rouge_score_keeps(candidates, seeds, threshold, inclusive):
    with pairs_from_the_start():
        index = RougeLIndex(seeds, threshold=threshold, inclusive=inclusive)
        decisions = index.admit_many(candidates)
    assert_decisions_are_upstream(candidates, seeds, decisions, threshold, inclusive)


def test_pair_index_agrees_with_whole_rows_on_corpus_variants(corpus):
    """Families of edited corpus sentences (the benchmark's own generator): the hard cases, many
    near-misses around 0.7; re-ranked several times on the way (rebuild_min 16)."""
    stream = mc.build(corpus[:60], 1200, seed=5)
    with pairs_from_the_start(rebuild_min=16):
        fast = RougeLIndex(threshold=0.7)
        decisions = [fast.admit(t) for t in stream]
    assert fast._pairs._built_at >= 256  # re-ranked on the way, not only at the start
    assert_agrees_with_whole_rows(stream, decisions)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(texts(), few_words), min_size=1, max_size=30), st.one_of(texts(), few_words),
       st.integers(1, 12), st.integers(0, 35))
def test_bounded_top_k_is_the_stable_top_k(pool, text, k, upto):
    with pairs_from_the_start(levels=(0.5, 0.3)):
        index = RougeLIndex(pool, threshold=0.7)
        stats: dict = {}
        got = index.top_k_bounded(text, k, upto=upto, stats=stats)
    scores = ref_scores(pool[:upto], text)
    expected = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    assert got == [(i, scores[i]) for i in expected]


def test_bounded_top_k_scores_no_whole_row_when_the_levels_find_k(corpus):
    pool = [corpus[0] + suffix for suffix in ("", "!", " now", " please", " again", " ok")] + corpus[1:100]
    with pairs_from_the_start(levels=(0.5,)):
        index = RougeLIndex(pool)
        stats: dict = {}
        top = index.top_k_bounded(corpus[0] + " today", 5, stats=stats)
        assert stats == {} and [i for i, _ in top] == [0, 1, 2, 3, 4]
        index.top_k_bounded(corpus[0] + " today", 20, stats=stats)
        assert stats == {"whole_rows": 1}


def test_mean_estimate_is_exact_up_to_the_sample_and_named_beyond(corpus):
    index = RougeLIndex(corpus[:200])
    text = corpus[300]
    exact = index.mean_estimate(text, 500)
    assert exact.exact and exact.sample_size == exact.pool_size == 200
    assert exact.value == float(np.mean(ref_scores(corpus[:200], text)))
    est = index.mean_estimate(text, 50, upto=150, seed=3)
    assert not est.exact and (est.sample_size, est.pool_size) == (50, 150)
    picks = np.sort(np.random.default_rng(3).choice(150, 50, replace=False))
    assert est.value == float(np.mean(np.array(ref_scores(corpus[:150], text))[picks]))


def test_one_token_texts_meet_their_copies_through_the_pair_index():
    # a one-token text has no pair: only the one-token entries can pass, found without pairs
    with pairs_from_the_start():
        index = RougeLIndex(["the cat sat", "cat", "dog", "cat"], threshold=0.7)
        decision = index.admit("cat")
        assert (decision.kept, decision.index, decision.score) == (False, 1, 1.0)
        assert index.admit("cow").kept and index.admit("cat dog").kept


@contextlib.contextmanager
def masks_from_the_start(frequent: int, banded_min: int = 1 << 30):
    """Masks of only a few elements, picked from the second entry on: candidates' bounds then
    mix elements counted from masks with elements assumed hit. `banded_min`: postings split by
    length from that many entries on (2: nearly all of them)."""
    saved = OccurrenceIndex.frequent, OccurrenceIndex.scale_min, OccurrenceIndex.banded_min
    OccurrenceIndex.frequent, OccurrenceIndex.scale_min, OccurrenceIndex.banded_min = frequent, 2, banded_min
    try:
        yield
    finally:
        OccurrenceIndex.frequent, OccurrenceIndex.scale_min, OccurrenceIndex.banded_min = saved


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(texts(), few_words), max_size=40), st.lists(texts(), max_size=5),
       st.sampled_from([0.7, 0.75, 0.9, 0.5, 0.3]), st.integers(0, 5), st.booleans(), st.sampled_from([2, 3, 1 << 30]))
def test_frequent_masks_keep_what_rouge_score_keeps(candidates, seeds, threshold, frequent, pairs, banded_min):
    with masks_from_the_start(frequent, banded_min), (pairs_from_the_start() if pairs else contextlib.nullcontext()):
        index = RougeLIndex(seeds, threshold=threshold)
        decisions = index.admit_many(candidates)
    assert [d.kept for d in decisions] == ref_filter(candidates, seeds, threshold, False)


def test_frequent_masks_prune_candidates(corpus):
    """The masks must do work, not only stay exact: on corpus variants, fewer candidates reach an
    LCS with them than with every unprobed element assumed hit."""
    from selfinstruct.generation.similarity import postings

    stream = mc.build(corpus[:80], 1600, seed=7)
    counted = []
    real = postings.verify

    def spy(q, cand, *rest):
        counted[-1] += len(cand)
        return real(q, cand, *rest)

    postings.verify, kept = spy, []
    try:
        for frequent in (0, 64):
            counted.append(0)
            with masks_from_the_start(frequent):
                kept.append([d.kept for d in RougeLIndex().admit_many(stream)])
    finally:
        postings.verify = real
    assert kept[0] == kept[1]
    assert counted[1] < counted[0] * 0.8, counted


def test_length_bands_stay_exact_and_read_less(corpus):
    """Corpus variants (many near-misses at 0.7) with every posting split by length: the same
    decisions as whole postings, and fewer entries merged."""
    from selfinstruct.generation.similarity import postings

    stream = mc.build(corpus[:60], 900, seed=11)
    merged, kept = [], []
    real = OccurrenceIndex._by_length

    def spy(self, found, *rest):
        out = real(self, found, *rest)
        merged[-1] += sum(map(len, out[0]))
        return out

    OccurrenceIndex._by_length = spy
    try:
        for banded_min in (1 << 30, 2):
            merged.append(0)
            with masks_from_the_start(64, banded_min):
                kept.append([d.kept for d in RougeLIndex().admit_many(stream)])
    finally:
        OccurrenceIndex._by_length = real
    assert kept[0] == kept[1] == ref_filter(stream, [], 0.7, False)
    assert merged[1] < merged[0] * 0.8, merged
    assert postings.length_band(1) == 0 and postings.length_band(5000) > postings.length_band(1000)
