from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.generation.similarity import RougeLIndex
from selfinstruct.generation.similarity.scoring import fmeasure

from .conftest import any_text, ref_filter, ref_most_similar, ref_scores, texts
from selfinstruct.generation.similarity.argsort_legacy import legacy_argsort_tail

pools = st.lists(st.one_of(texts(), texts(max_words=40)), max_size=25)
thresholds = st.sampled_from([0.7, 0.5, 0.3, 0.9, 1.0, 0.0, 0.65, 0.75, 0.2])


def first_argmax(scores):
    return int(np.argmax(scores))


@settings(max_examples=150, deadline=None)
@given(pools, any_text, thresholds, st.booleans())
def test_queries_match_plain_rouge_score_loop(pool, text, threshold, inclusive):
    index = RougeLIndex(pool, threshold=threshold, inclusive=inclusive)
    scores = ref_scores(pool, text)
    # also probe at a threshold equal to an achieved score: the strict/inclusive boundary
    probes = [threshold] + ([scores[len(scores) // 2]] if scores else [])
    for t in probes:
        for inc in (False, True):
            expected = bool(scores) and (max(scores) >= t if inc else max(scores) > t)
            assert index.is_near_duplicate(text, t, inc) == expected, (t, inc)
    best, at = index.max_score(text)
    if pool:
        assert best == max(scores) and at == first_argmax(scores)
    else:
        assert (best, at) == (0.0, None)
    assert np.array_equal(index.scores(text), np.asarray(scores, dtype=float))
    assert index.top_k(text) == ([(int(i), scores[i]) for i in legacy_argsort_tail(np.array(scores, dtype=float), 10)[::-1]] if pool else [])
    if pool:
        assert list(index.most_similar(text).items()) == list(ref_most_similar(pool, scores).items())
        assert index.mean_score(text) == float(np.mean(scores))
        md = index.metadata(text)
        assert md.avg_similarity_score == float(np.mean(scores))
        assert list(md.most_similar.items()) == list(ref_most_similar(pool, scores).items())


@settings(max_examples=120, deadline=None)
@given(st.lists(st.one_of(texts(), texts(max_words=30, words=["a", "b", "c", "d", "b"])), max_size=40),
       st.lists(texts(), max_size=5), thresholds, st.booleans())
def test_incremental_filter_keeps_what_rouge_score_keeps(candidates, seeds, threshold, inclusive):
    index = RougeLIndex(seeds)
    decisions = index.admit_many(candidates, threshold, inclusive)
    assert [d.kept for d in decisions] == ref_filter(candidates, seeds, threshold, inclusive)
    pool = list(seeds)
    for text, d in zip(candidates, decisions):
        if d.kept:
            assert d.index == len(pool)
            pool.append(text)
        else:  # the reported nearest entry really has the reported, maximal, score
            scores = ref_scores(pool, text)
            assert d.score == max(scores) and d.index == first_argmax(scores)
    assert index.texts == pool


def test_exact_boundary_strict_keeps_inclusive_rejects():
    # find lengths where rouge_score's float is exactly 0.7, then build such a pair
    lcs, m, n = next((lcs, m, n) for m in range(1, 30) for n in range(1, 30) for lcs in range(1, min(m, n) + 1)
                     if fmeasure(lcs, m, n) == 0.7)
    common = [f"w{i}" for i in range(lcs)]
    a = " ".join(common + [f"a{i}" for i in range(m - lcs)])
    b = " ".join(common + [f"b{i}" for i in range(n - lcs)])
    assert ref_scores([a], b) == [0.7]
    index = RougeLIndex([a])
    assert not index.is_near_duplicate(b)  # upstream: rejected only when > 0.7
    assert index.is_near_duplicate(b, inclusive=True)  # the paper: kept only when < 0.7
    assert RougeLIndex([a], inclusive=True).admit(b).kept is False


def test_top_k_reproduces_upstream_tie_order_and_dict_collapse():
    # many equal scores and duplicate texts: the unstable argsort and the dict both matter
    pool = ["write a poem", "write a song", "write a poem", "draw a cat", "write a story"] * 6
    pool += [f"write a note number {i}" for i in range(20)]
    text = "write a letter"
    index = RougeLIndex(pool)
    scores = ref_scores(pool, text)
    assert index.top_k(text, 10) == [(int(i), scores[i]) for i in legacy_argsort_tail(np.array(scores, dtype=float), 10)[::-1]]
    expected = ref_most_similar(pool, scores)
    assert list(index.most_similar(text).items()) == list(expected.items())
    assert len(expected) < 10  # duplicates collapsed, as upstream's dict does


def test_edge_cases():
    index = RougeLIndex()
    assert len(index) == 0 and index.max_score("x") == (0.0, None) and not index.is_near_duplicate("x")
    assert index.top_k("x") == [] and index.mean_score("x") == 0.0 and index.nearest("x") == (None, 0.0)
    assert index.add("") == 0 and index.add("!!!") == 1
    assert index.max_score("") == (0.0, 0)
    assert not index.is_near_duplicate("", 0.0)  # strict at 0: nothing scores above 0
    assert index.is_near_duplicate("", 0.0, True)  # inclusive at 0: everything does
    index.add("Hello, world")
    assert index.nearest("hello world!") == ("Hello, world", 1.0)
    assert index.is_near_duplicate("hello world", 1.0, True) and not index.is_near_duplicate("hello world", 1.0)
    assert index.top_k("hello", k=0) == [] and len(index.top_k("hello", k=50)) == 3
    with pytest.raises(TypeError):
        index.add(None)


@settings(max_examples=40, deadline=None)
@given(st.lists(texts(), min_size=1, max_size=30), st.lists(any_text, max_size=8))
def test_integer_symbols_when_code_points_run_out(pool, queries):
    class Tiny(RougeLIndex):
        max_char_id = 3  # forces the switch to int-list sequences after 3 distinct tokens

    small, big = Tiny(pool), RougeLIndex(pool)
    for q in queries:
        assert small.max_score(q) == big.max_score(q)
        assert small.top_k(q) == big.top_k(q)
        assert small.admit(q, 0.5) == big.admit(q, 0.5)
    assert small.metadata_batch(queries, upto=len(pool) // 2) == big.metadata_batch(queries, upto=len(pool) // 2)


def test_batch_metadata_process_pool_matches_sequential(corpus):
    index = RougeLIndex(corpus[:300])
    members = list(range(0, 300, 7))
    parallel = index.member_metadata(members, workers=2)
    sequential = index.member_metadata(members, workers=1)
    assert parallel == sequential
    for i, md in zip(members[::6], parallel[::6]):
        scores = ref_scores(corpus[:i], corpus[i])
        assert list(md.most_similar.items()) == list(ref_most_similar(corpus[:i], scores).items())
        assert md.avg_similarity_score == (float(np.mean(scores)) if scores else 0.0)
    queries = corpus[300:340]
    assert index.metadata_batch(queries, upto=150, workers=2) == [
        RougeLIndex(corpus[:150]).metadata(q) for q in queries]


def test_real_instructions_filter_like_rouge_score(corpus, seed_file):
    import json

    seeds = [json.loads(line)["instruction"] for line in seed_file.read_text().splitlines() if line.strip()]
    candidates = corpus[:250]
    index = RougeLIndex(seeds)
    assert [d.kept for d in index.admit_many(candidates)] == ref_filter(candidates, seeds)
