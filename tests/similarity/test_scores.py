from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import tokenize as rs_tokenize

from selfinstruct.generation.similarity import rouge_l, tokenize
from selfinstruct.generation.similarity.scoring import fmeasure

from .conftest import any_text, ref_score


@settings(max_examples=400, deadline=None)
@given(any_text)
def test_tokenizer_matches_rouge_score(text):
    assert tokenize(text) == rs_tokenize.tokenize(text, None)


def test_tokenizer_unicode_cases():
    # str.lower() maps these to ASCII; everything else non-ASCII separates tokens
    for text in ["\u212aelvin", "İstanbul", "straße", "ﬁle", "日本語 text", "ÀB-cd_ef", "x\u00a0y", ""]:
        assert tokenize(text) == rs_tokenize.tokenize(text, None), text


@settings(max_examples=400, deadline=None)
@given(any_text, any_text)
def test_rouge_l_equals_rouge_score_bitwise(a, b):
    expected = ref_score(a, b)
    got = rouge_l(a, b)
    assert abs(got - expected) <= 1e-12
    assert got == expected  # stronger: the same float
    assert rouge_l(b, a) == got  # argument order cannot change a score


def test_fmeasure_formula_matches_on_all_small_lengths():
    # every (lcs, m, n) the index can meet for short texts, against rouge_score's own formula
    from rouge_score import scoring

    for m in range(1, 45):
        for n in range(1, 45):
            for lcs in range(0, min(m, n) + 1):
                p, r = lcs / n, lcs / m
                assert fmeasure(lcs, m, n) == scoring.fmeasure(p, r)


@given(st.text(max_size=5))
def test_empty_sides_score_zero(text):
    assert rouge_l("", text) == 0.0 == rouge_l("...", text)


def test_table_lookup_rows_equal_arithmetic_rows():
    import numpy as np

    from selfinstruct.generation.similarity import scoring
    from selfinstruct.generation.similarity.scoring import fmeasure_array, fmeasure_row

    rng = np.random.default_rng(0)
    m = rng.integers(0, 80, 5000)
    for n in (0, 1, 7, 16, 75):
        lcs = np.minimum(rng.integers(0, 80, 5000), np.minimum(m, n)).astype(np.int32)
        assert np.array_equal(fmeasure_row(lcs, m, n, 80), fmeasure_array(lcs, m, n))
    big = 2 * scoring._TABLE_MAX_CELLS  # falls back to arithmetic for huge tables
    assert np.array_equal(fmeasure_row(lcs, m, big, big), fmeasure_array(lcs, m, big))
