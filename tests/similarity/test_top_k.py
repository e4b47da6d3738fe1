"""The default profile's top-k ("stable" order) against a brute-force reference, and the batched
record fields (per-row pool prefixes, threads, the cached relabelled pool) against fresh indexes.

The reference for "stable" is a full sort by (-score, pool index) of rouge_score's own scores;
for the scores, the set of top-k scores and the mean, it is upstream's expression.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.generation.similarity import RougeLIndex
from selfinstruct.generation.similarity import metadata as md
from selfinstruct.generation.similarity.argsort_legacy import legacy_argsort_tail

from .conftest import any_text, ref_scores, texts


def ref_stable(scores, k):
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


# Rows with many exact ties (few distinct values), long enough to take the block-maximum path
# (len > k * 64) as well as the short one.
rows = st.integers(0, 3000).flatmap(lambda n: st.lists(
    st.sampled_from([0.0, 0.0, 0.25, 0.5, 0.5, 2 / 3, 0.7, 1.0]), min_size=n, max_size=n))


@settings(max_examples=120, deadline=None)
@given(rows, st.integers(0, 14))
def test_stable_top_indices_is_a_full_sort_by_score_then_index(row, k):
    arr = np.array(row, dtype=np.float64)
    got = md.stable_top_indices(arr, k).tolist()
    assert got == ref_stable(row, k)
    if k:  # the same multiset of top scores as upstream's argsort picks
        assert sorted(arr[got]) == sorted(arr[md.upstream_top_indices(arr, k)])


def test_stable_top_indices_ties_at_the_cut_keep_the_lowest_indices():
    row = np.zeros(5000)
    row[[4999, 17, 3000]] = 0.5  # three-way tie for first place, scattered over blocks
    row[[100, 2, 4500, 64]] = 0.25  # ties at the cut
    assert md.stable_top_indices(row, 5).tolist() == [17, 3000, 4999, 2, 64]
    assert md.stable_top_indices(np.zeros(700), 10).tolist() == list(range(10))  # all equal
    with pytest.raises(ValueError):
        md.top_indices(row, 3, order="sorted")


pools = st.lists(st.one_of(texts(), texts(max_words=40)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(pools, any_text, st.integers(1, 12))
def test_index_stable_top_k_matches_brute_force(pool, text, k):
    index = RougeLIndex(pool)
    scores = ref_scores(pool, text)
    stable = index.top_k(text, k, order="stable")
    assert stable == [(i, scores[i]) for i in ref_stable(scores, k)]  # exact scores and tie rule
    upstream = index.top_k(text, k)
    assert upstream == [(int(i), scores[i]) for i in legacy_argsort_tail(np.array(scores), k)[::-1]]
    assert sorted(s for _, s in stable) == sorted(s for _, s in upstream)
    meta = index.metadata(text, k, order="stable")
    assert meta.top_k == stable and meta.avg_similarity_score == float(np.mean(scores))


@settings(max_examples=25, deadline=None)
@given(st.lists(texts(), min_size=2, max_size=30), st.data())
def test_member_metadata_uses_each_members_own_prefix(pool, data):
    """One batch, rows of different prefix lengths: entries added after a member must not count."""
    index = RougeLIndex(pool)
    members = sorted(data.draw(st.sets(st.integers(0, len(pool) - 1), min_size=1)))
    for order in md.ORDERS:
        batch = index.member_metadata(members, order=order)
        for i, meta in zip(members, batch):
            scores = ref_scores(pool[:i], pool[i])
            ranked = (ref_stable(scores, 10) if order == "stable"
                      else [int(j) for j in md.upstream_top_indices(np.array(scores), 10)])
            assert meta.top_k == [(j, scores[j]) for j in ranked]
            assert meta.avg_similarity_score == (float(np.mean(scores)) if scores else 0.0)
            assert all(j < i for j, _ in meta.top_k)


def test_threaded_cdist_matches_single_thread(corpus, monkeypatch):
    index = RougeLIndex(corpus[:300])
    members = list(range(0, 300, 3))
    single = index.member_metadata(members, order="stable", workers=1)
    stats: dict = {}
    monkeypatch.setattr(md, "THREAD_MIN_PAIRS", 1)
    threaded = index.member_metadata(members, order="stable", stats=stats)
    assert stats["threads"] == md.available_cpus() and stats["workers"] == 1
    assert threaded == single
    for i, meta in zip(members[::10], single[::10]):
        scores = ref_scores(corpus[:i], corpus[i])
        assert meta.top_k == [(j, scores[j]) for j in ref_stable(scores, 10)]


def test_relabelled_pool_cache_follows_a_growing_pool(corpus):
    """The cached relabelled codes are extended (new tokens get new code points) and rebuilt
    when the pool doubles; every batch must equal a fresh index's answer."""
    grown = RougeLIndex(corpus[:40])
    queries = corpus[300:320] + ["zyzzyva quux frobnicate", "the the the a a"]
    for size in (40, 41, 60, 79, 80, 161, 300):
        for text in corpus[len(grown):size]:
            grown.add(text)
        grown.add(f"unseenword{size} appears once here")  # a token the table has not seen
        fresh = RougeLIndex(grown.texts)
        for order in md.ORDERS:
            assert grown.metadata_batch(queries, order=order) == fresh.metadata_batch(queries, order=order)
        assert len(grown._relabeled.codes) == len(grown)
        table = grown._relabeled.table
        assert len(set(table.values())) == len(table)  # one-to-one


def test_doc_frequency_ranking_gives_common_tokens_small_code_points():
    index = RougeLIndex(["the cat", "the dog", "the cow", "a cat"])
    table = index._relabeled.sync(index._codes, index._vocab, index._doc_freq)
    the, cat = index._vocab["the"], index._vocab["cat"]
    assert table[ord(the)] == "\x01" and table[ord(cat)] == "\x02"


def test_tracked_index_keeps_the_relabelled_pool_in_step_on_every_add(corpus):
    tracked = RougeLIndex(corpus[:5])
    tracked.track_metadata()
    for text in corpus[5:200] + ["brandnewtoken only here"]:
        tracked.add(text)
        assert len(tracked._relabeled.codes) == len(tracked)  # no catch-up left for a batch
    table = tracked._relabeled.table
    assert len(set(table.values())) == len(table) == len(tracked._vocab)
    queries = corpus[300:310] + ["brandnewtoken"]
    fresh = RougeLIndex(tracked.texts)
    assert tracked.metadata_batch(queries, order="stable") == fresh.metadata_batch(queries, order="stable")
    assert tracked.member_metadata([3, 50, 199]) == fresh.member_metadata([3, 50, 199])
