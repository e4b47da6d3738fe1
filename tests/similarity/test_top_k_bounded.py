"""`top_k_bounded` through its overlap bounds (topk.py) against the stable whole-row top-k.

The bounds normally start at a pool of thousands, with 64 frequent elements and 64 length
bands; these tests lower all of them (class attributes) so that pools of a few dozen texts take
every path: entries found through rare postings, through the frequent bit planes, both, long
texts beyond the length bands, re-picked frequent sets, `upto` below the pool, and int-list
symbols. Vocabularies are tiny and texts repeat words, so equal scores (the tie rule's cases)
are everywhere.
"""
from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.generation.similarity import RougeLIndex
from selfinstruct.generation.similarity.topk import TopKIndex

from .conftest import ref_scores, texts


@contextlib.contextmanager
def bounds_from_the_start(frequent: int = 3, lengths: int = 6, rebuild_min: int = 2, first_batch: int = 1):
    saved = (RougeLIndex.top_k_row_max, TopKIndex.frequent, TopKIndex.lengths, TopKIndex.rebuild_min,
             TopKIndex.first_batch)
    (RougeLIndex.top_k_row_max, TopKIndex.frequent, TopKIndex.lengths, TopKIndex.rebuild_min,
     TopKIndex.first_batch) = (0, frequent, lengths, rebuild_min, first_batch)
    try:
        yield
    finally:
        (RougeLIndex.top_k_row_max, TopKIndex.frequent, TopKIndex.lengths, TopKIndex.rebuild_min,
         TopKIndex.first_batch) = saved


def stable(scores: list[float], k: int) -> list[tuple[int, float]]:
    return [(i, scores[i]) for i in sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]]


few = ["a", "b", "c", "d", "e", "f", "g", "h"]
repetitive = texts(max_words=12, words=few[:4])
varied = texts(max_words=20, words=few)
long_texts = texts(max_words=40, words=few[:3] + ["x", "y"])
pool_text = st.one_of(repetitive, varied, long_texts, st.sampled_from(["", "a", "b", "a a", "a b"]))
settings_ = dict(max_examples=150, deadline=None)


@settings(**settings_)
@given(st.lists(pool_text, min_size=1, max_size=45), st.lists(pool_text, min_size=1, max_size=4),
       st.integers(1, 12), st.integers(0, 50), st.integers(0, 8), st.integers(1, 12), st.integers(1, 64))
def test_bounded_top_k_is_the_stable_top_k(pool, queries, k, upto, frequent, lengths, first_batch):
    with bounds_from_the_start(frequent=frequent, lengths=lengths, first_batch=first_batch):
        index = RougeLIndex(pool)
        for text in queries:
            got = index.top_k_bounded(text, k, upto=upto)
            assert got == stable(ref_scores(pool[:upto], text), k)
            assert got == index.top_k(text, k, order="stable")[:k] or upto < len(pool)


@settings(**settings_)
@given(st.lists(pool_text, min_size=1, max_size=60), pool_text, st.integers(1, 10))
def test_bounds_stay_exact_while_the_pool_grows(stream, text, k):
    """Queries between adds: catch-ups of a few entries, partial 64-entry words, re-picks."""
    with bounds_from_the_start():
        index = RougeLIndex()
        for i, entry in enumerate(stream):
            index.add(entry)
            if i % 3 == 0:
                assert index.top_k_bounded(text, k) == index.top_k(text, k, order="stable")
        assert index.top_k_bounded("a b", k) == index.top_k("a b", k, order="stable")
        assert index._topk is not None and index._topk.posted == len(stream)


@settings(max_examples=60, deadline=None)
@given(st.lists(pool_text, min_size=1, max_size=30), st.lists(pool_text, min_size=1, max_size=4),
       st.integers(1, 8))
def test_integer_symbols(pool, queries, k):
    class Tiny(RougeLIndex):
        max_char_id = 3  # int-list sequences after 3 distinct tokens

    with bounds_from_the_start():
        small, big = Tiny(pool), RougeLIndex(pool)
        for text in queries:
            assert small.top_k_bounded(text, k) == big.top_k_bounded(text, k) == big.top_k(text, k, order="stable")
        small.add("a b c d e f g h i j k")  # new tokens after the switch
        assert small.top_k_bounded("k j a", k) == small.top_k("k j a", k, order="stable")


def test_ties_at_the_cut_go_to_the_lowest_indices():
    """Many entries with the k-th best score, found by different paths (rare postings or the
    frequent planes only): the lowest indices must win, whatever was scored first."""
    pool = ["a b x"] * 3 + ["a b"] * 5 + ["a c y", "y a c", "b a"] * 4 + ["q r s t"] * 3
    with bounds_from_the_start(frequent=2, lengths=4):
        index = RougeLIndex(pool)
        for text in ("a b y", "a b", "y", "a c", "q", "z"):
            for k in (1, 3, 7, 12, 40):
                assert index.top_k_bounded(text, k) == stable(ref_scores(pool, text), k)


def test_whole_rows_only_where_the_bounds_give_up(corpus):
    with bounds_from_the_start(frequent=64, lengths=64, rebuild_min=16):
        index = RougeLIndex(corpus[:300])
        stats: dict = {}
        for text in corpus[300:340]:
            assert index.top_k_bounded(text, 10, stats=stats) == index.top_k(text, 10, order="stable")
        assert stats.get("whole_rows", 0) <= 2
        rows = stats.get("whole_rows", 0)
        # nothing shared: every score is 0, ties by index, known without scoring a row
        assert index.top_k_bounded("zzzq qqqz", 3, stats=stats) == [(0, 0.0), (1, 0.0), (2, 0.0)]
        # fewer than k share anything: those by score, then the lowest-index others at 0
        few = corpus[300]
        got = index.top_k_bounded(few, 299, stats=stats)
        assert got == index.top_k(few, 299, order="stable") and got[-1][1] == 0.0
        assert stats.get("whole_rows", 0) == rows


def test_a_whole_row_where_every_entry_ties_at_the_top(monkeypatch):
    # every bound equals the k-th best, so best-first scoring cannot stop early: past the most
    # it may score it gives up at once (one whole row), not level after level
    tries = []
    real = TopKIndex._best_first
    monkeypatch.setattr(TopKIndex, "_best_first", lambda self, *a: tries.append(1) or real(self, *a))
    index = RougeLIndex(["a b c d"] * 5000)  # more than the 4,096 it may score
    stats: dict = {}
    assert index.top_k_bounded("a b c d", 10, stats=stats) == [(i, 1.0) for i in range(10)]
    assert stats == {"whole_rows": 1} and len(tries) == 1


def test_small_pools_score_a_row():
    index = RougeLIndex(["a b", "b c"])
    stats: dict = {}
    assert index.top_k_bounded("a b", 1, stats=stats) == [(0, 1.0)]
    assert stats == {"whole_rows": 1} and index._topk is None


def test_pool_order_is_kept_in_the_bitsets():
    """An entry is the bit d % 64 of word d // 64: entries across word boundaries."""
    pool = [f"a {'b ' * (i % 5)}c" for i in range(200)]
    with bounds_from_the_start(frequent=4, lengths=8):
        index = RougeLIndex(pool)
        for upto in (1, 63, 64, 65, 128, 130, 200):
            assert index.top_k_bounded("a b b c", 15, upto=upto) == stable(
                list(np.asarray(index.scores("a b b c", upto=upto))), 15)


def test_an_unscored_entry_whose_bound_equals_the_kth_best_is_still_scored():
    """Round one scores the best bounds ("c d a b": overlap 4, score 0.5); the earlier entries
    reach 0.5 with bound == score == the k-th best, through a rare posting ("a c y z") or the
    frequent planes only ("a b y z"), and being earlier in the pool they must win the tie."""
    for early, frequent in (("a c y z", 1), ("a b y z", 2)):  # frequent: {a} or {a, b}
        pool = [early] * 3 + ["c d a b"] * 40 + ["a"] * 50
        with bounds_from_the_start(frequent=frequent, lengths=8):
            index = RougeLIndex(pool)
            for k in (1, 3, 5):
                assert index.top_k_bounded("a b c d", k) == stable(ref_scores(pool, "a b c d"), k)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 2**8 - 1), min_size=1, max_size=200), st.integers(1, 2**8 - 1), st.integers(1, 8))
def test_the_thermometer_is_exactly_count_at_least_j(masks, qmask, depth):
    """A looser bitset would stay exact (more entries scored), so check it as the count it is."""
    from selfinstruct.generation.similarity.topk import _ids_of, _pack, _thermometer

    size = len(masks)
    bits = np.zeros((8, -(-size // 64) * 64), np.uint8)
    for d, m in enumerate(masks):
        for b in range(8):
            bits[b, d] = m >> b & 1
    at = _thermometer(_pack(bits), qmask, depth, size)
    assert len(at) == min(depth, qmask.bit_count())
    for j, bitset in enumerate(at, 1):
        assert _ids_of(bitset, size).tolist() == [d for d, m in enumerate(masks) if (m & qmask).bit_count() >= j]
