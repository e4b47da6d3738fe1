"""The positional screen that takes over the near-duplicate test of a large pool (issue 19),
against rouge_score and whole rows of scores.

It normally starts at a pool of 65,536; these tests lower that and its other sizes (class
attributes) so that small pools take every path: rankings at fourfold growth, postings split by
length, masks of a few elements, clipped positions, and the switch to int-list symbols.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.generation.similarity import RougeLIndex
from selfinstruct.generation.similarity import positional
from selfinstruct.generation.similarity.positional import PositionalIndex

from .conftest import assert_agrees_with_whole_rows, assert_decisions_are_upstream, ref_filter, ref_scores, texts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import million_corpus as mc  # noqa: E402


@contextlib.contextmanager
def positional_from(start: int = 2, frequent: int = 64, banded_min: int = 256, max_position: int = 0xFFFF,
                    small: int = 128):
    """`small`: 0 sends every query down the numpy path, however few postings it reads."""
    names = ("start", "frequent", "banded_min", "max_position")
    saved = [getattr(PositionalIndex, name) for name in names], positional._SMALL
    for name, value in zip(names, (start, frequent, banded_min, max_position)):
        setattr(PositionalIndex, name, value)
    positional._SMALL = small
    try:
        yield
    finally:
        for name, value in zip(names, saved[0]):
            setattr(PositionalIndex, name, value)
        positional._SMALL = saved[1]


few_words = texts(max_words=30, words=["a", "b", "c", "d", "b", "e", "f"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(texts(), few_words), max_size=40), st.lists(texts(), max_size=5),
       st.sampled_from([0.7, 0.75, 0.9, 0.5, 0.3, 0.99]), st.booleans(), st.integers(0, 5),
       st.sampled_from([2, 3, 256]), st.sampled_from([1, 2, 0xFFFF]), st.sampled_from([0, 128]))
def test_positional_screen_keeps_what_rouge_score_keeps(candidates, seeds, threshold, inclusive, frequent,
                                                         banded_min, max_position, small):
    with positional_from(2, frequent, banded_min, max_position, small):
        index = RougeLIndex(seeds, threshold=threshold, inclusive=inclusive)
        decisions = index.admit_many(candidates)
    assert_decisions_are_upstream(candidates, seeds, decisions, threshold, inclusive)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(texts(), few_words), min_size=1, max_size=30), st.one_of(texts(), few_words),
       st.sampled_from([0.7, 0.8, 0.95]))
def test_thresholds_above_the_index_own_are_answered_exactly(pool, text, threshold):
    with positional_from(2, frequent=3, banded_min=2):
        index = RougeLIndex(pool, threshold=0.7)
        got = index.is_near_duplicate(text, threshold)
    assert got == any(s > threshold for s in ref_scores(pool, text))


def screened(stream: list[str], **sizes) -> tuple[list, dict]:
    """Decisions, and what the positional screen read: postings entries and the distinct
    entries among them, and how many of those its bound let through to an LCS."""
    seen = {"read": 0, "entries": 0, "to_lcs": 0}
    real = PositionalIndex._bounded

    def spy(self, reads, *rest):
        cand = real(self, reads, *rest)
        seen["read"] += sum(map(len, reads))
        seen["entries"] += len({v >> 32 for part in reads for v in part})
        seen["to_lcs"] += len(cand)
        return cand

    PositionalIndex._bounded = spy
    try:
        with positional_from(**sizes):
            index = RougeLIndex(threshold=0.7)
            decisions = [index.admit(t) for t in stream]
    finally:
        PositionalIndex._bounded = real
    return decisions, {**seen, "ranked_at": index._positional._built_at, "banded": len(index._positional.banded)}


def test_corpus_variants_agree_with_whole_rows_through_rankings_and_bands(corpus):
    """Families of edited corpus sentences (the benchmark's own generator): many near-misses
    around 0.7, ranked anew at fourfold growth on the way and with long postings split by length;
    every verdict, nearest entry and score as a whole row of scores gives them."""
    stream = mc.build(corpus[:75], 1500, seed=5)
    decisions, seen = screened(stream, start=16, banded_min=8)
    assert seen["ranked_at"] >= 256 and seen["banded"] > 0
    assert_agrees_with_whole_rows(stream, decisions)


def test_the_positional_bound_and_bands_do_work(corpus):
    """Exact is not enough: the bound must keep most entries read from an LCS, and splitting
    long postings by length must read fewer of them, with the same decisions."""
    stream = mc.build(corpus[:80], 1600, seed=7)
    whole, seen_whole = screened(stream, start=16, banded_min=1 << 30)
    banded, seen_banded = screened(stream, start=16, banded_min=8)
    assert [d.kept for d in whole] == [d.kept for d in banded]
    assert seen_banded["read"] < 0.8 * seen_whole["read"], (seen_whole, seen_banded)
    assert seen_whole["to_lcs"] < 0.5 * seen_whole["entries"], seen_whole


def test_int_list_symbols_rebuild_the_positional_screen(monkeypatch):
    # past max_char_id distinct tokens the symbols become ints: the screen is rebuilt on them
    monkeypatch.setattr(RougeLIndex, "max_char_id", 3)
    stream = ["a b c", "a b c d", "b c d e", "e f g h", "a b c d e", "h g f e", "a b x c d"]
    with positional_from(2, frequent=2, banded_min=2):
        index = RougeLIndex(threshold=0.5)
        decisions = [index.admit(t) for t in stream]
        assert index.as_lists and index._positional.posted == len(index)
    assert [d.kept for d in decisions] == ref_filter(stream, [], 0.5, False)


def test_long_queries_and_other_thresholds_go_to_the_occurrence_screen():
    index = PositionalIndex(0.7)
    assert index.handles(0.7, 12) and index.handles(0.9, 1)
    assert not index.handles(0.69, 12) and not index.handles(1.0, 12) and not index.handles(0.7, 0)
    assert not index.handles(0.7, positional._POS + 1)


@pytest.mark.parametrize("small", [128, 0])  # the plain-Python path and the numpy one
def test_a_pair_that_shares_only_frequent_elements_is_still_found(small):
    # "x" and "y" are the two frequent elements (the masks' bits) and "x" ranks before "y": the
    # query's rarest common element with "y" is then its second, past its rare ones
    pool = ["x p1 p2 p3 p4 p5", "x p6 p7 p8 p9 p10", "y", "y q1 q2 q3 q4 q5", "y q6 q7 q8 q9 q10"]
    with positional_from(2, frequent=2, small=small):
        index = RougeLIndex(pool, threshold=0.3)
        decision = index.admit("x y")
    assert ref_scores(pool, "x y")[2] == max(ref_scores(pool, "x y")) > 0.3
    assert (decision.kept, decision.index, decision.score) == (False, 2, ref_scores(pool, "x y")[2])
