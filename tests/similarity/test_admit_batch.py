"""`admit_batch` against a loop of `admit` + `member_metadata` (the paths the engine used to
take): the same decisions, nearest entries, scores and record fields, on both of its scoring
paths (one matrix per chunk for small pools, a row at a time for big ones)."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.generation.similarity import batch as batch_module
from selfinstruct.generation.similarity import RougeLIndex
from selfinstruct.generation.similarity.metadata import stable_top_indices, stable_top_rows

from .conftest import texts

WORDS = "write a poem story list of the ten best ways to cook rice fish explain why sky is blue".split()


def near_copies(rng: random.Random, n: int) -> list[str]:
    """Texts that often share most words, so many are near-duplicates of each other."""
    out = []
    for _ in range(n):
        if out and rng.random() < 0.5:
            words = rng.choice(out).split()
            for _ in range(rng.randint(0, 3)):
                words[rng.randrange(len(words))] = rng.choice(WORDS + [f"new{rng.randint(0, 40)}"])
        else:
            words = [rng.choice(WORDS) for _ in range(rng.randint(1, 14))]
        out.append(" ".join(words))
    return out + ["", "!!!", "the the the"]


def reference(seeds, cands, limit, order, threshold, inclusive):
    index = RougeLIndex(seeds, threshold=threshold, inclusive=inclusive)
    decisions, kept = [], []
    for text in cands:
        if limit is not None and len(kept) >= limit:
            decisions.append(None)
            continue
        d = index.admit(text)
        decisions.append(d)
        if d.kept:
            kept.append(d.index)
    metadata = iter(index.member_metadata(kept, order=order))
    return [None if d is None else (d, next(metadata) if d.kept else None) for d in decisions], index.texts


@pytest.mark.parametrize("matrix_max", [10_000, 20])  # both scoring paths
@pytest.mark.parametrize("order", ["upstream", "stable"])
@pytest.mark.parametrize("trial", range(3))
def test_same_as_admit_loop(monkeypatch, matrix_max, order, trial):
    monkeypatch.setattr(batch_module, "MATRIX_MAX", matrix_max)
    rng = random.Random(trial)
    seeds = near_copies(rng, rng.choice([0, 5, 60]))
    cands = near_copies(rng, 300)
    rng.shuffle(cands)
    threshold = rng.choice([0.7, 0.5, 0.9])
    inclusive = rng.random() < 0.5
    limit = rng.choice([None, 120])
    index = RougeLIndex(seeds, threshold=threshold, inclusive=inclusive)
    got = index.admit_batch(cands, limit=limit, order=order, chunk=rng.choice([1, 16, 128]))
    expected, pool = reference(seeds, cands, limit, order, threshold, inclusive)
    assert got == expected
    assert index.texts == pool
    if limit is not None:  # either the limit was reached or every text was judged
        count = sum(g is not None and g[0].kept for g in got)
        assert count == limit or (count < limit and all(g is not None for g in got))


@settings(max_examples=60, deadline=None)
@given(st.lists(texts(), max_size=12), st.lists(texts(), max_size=30), st.sampled_from([0.0, 0.3, 0.7, 1.0, -0.1]),
       st.booleans(), st.integers(1, 9))
def test_same_as_admit_loop_on_any_text(seeds, cands, threshold, inclusive, chunk):
    index = RougeLIndex(seeds, threshold=threshold, inclusive=inclusive)
    got = index.admit_batch(cands, order="stable", chunk=chunk)
    assert got == reference(seeds, cands, None, "stable", threshold, inclusive)[0]


def test_screen_still_works_after_batches():
    """The inverted index is built lazily: a per-text admit after batches must see them."""
    index = RougeLIndex(["write a poem about the sea"])
    index.admit_batch(["list ten ways to cook rice", "explain why the sky is blue"])
    assert index.is_near_duplicate("explain why the sky is blue today")
    assert not index.admit("list ten ways to cook rice please").kept
    assert index.admit("a completely different request").kept


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0, -1.0]), min_size=0, max_size=900), min_size=1,
                max_size=4), st.integers(0, 12))
def test_stable_top_rows_matches_one_row_at_a_time(rows, k):
    width = max(map(len, rows))
    matrix = np.full((len(rows), width), -1.0)
    for r, row in enumerate(rows):
        matrix[r, :len(row)] = row
    for r, top in enumerate(stable_top_rows(matrix, k)):
        row = matrix[r]
        valid = np.flatnonzero(row >= 0)
        expected = valid[stable_top_indices(row[valid], k)] if len(valid) else np.zeros(0, np.int64)
        assert top.tolist() == expected.tolist()


def test_same_as_admit_loop_when_symbols_run_out_mid_batch(monkeypatch):
    """Past the code points, symbols become ints (lists): possibly in the middle of a chunk."""
    monkeypatch.setattr(RougeLIndex, "max_char_id", 18)
    rng = random.Random(5)
    seeds = near_copies(rng, 8)
    cands = near_copies(rng, 150)
    index = RougeLIndex(seeds)
    got = index.admit_batch(cands, order="stable", chunk=32)
    assert index._as_lists  # the switch happened
    assert got == reference(seeds, cands, None, "stable", 0.7, False)[0]
