"""Agreement and correlation statistics against values computed by hand (see comments)."""
from __future__ import annotations

import math

import pytest

from selfinstruct.evaluation.user_oriented.stats import (
    agreement, average_ranks, cohen_kappa, json_safe, length_bias, percent_agreement, spearman,
)

A = list("AABBCD")
B = list("ABBBCC")


def test_percent_agreement():
    assert percent_agreement(A, B) == pytest.approx(4 / 6)


def test_cohen_kappa_by_hand():
    # po = 4/6; marginals A:2,2,1,1 and B:1,3,2,0 -> pe = (2*1+2*3+1*2+1*0)/36 = 10/36
    # kappa = (24/36 - 10/36) / (26/36) = 14/26 = 7/13
    assert cohen_kappa(A, B) == pytest.approx(7 / 13)
    assert cohen_kappa(A, A) == pytest.approx(1.0)
    assert cohen_kappa(B, A) == pytest.approx(7 / 13)  # symmetric


def test_quadratic_weighted_kappa_by_hand():
    # disagreements (A,B) and (D,C), each weight 1/9 -> observed 2/54; expected 58/324 -> 1 - 6/29
    assert cohen_kappa(A, B, weights="quadratic") == pytest.approx(23 / 29)


def test_kappa_worse_than_chance_and_undefined():
    assert cohen_kappa(list("AB"), list("BA")) == pytest.approx(-1.0)
    assert math.isnan(cohen_kappa(list("AAA"), list("AAA")))  # pe = 1: undefined, not 1
    assert math.isnan(cohen_kappa([], []))


def test_average_ranks_and_spearman_with_ties():
    assert average_ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    # ranks x [1, 2.5, 2.5, 4], y [1, 2, 3.5, 3.5]: cov 3.75, var 4.5 each -> 5/6
    assert spearman([1, 2, 2, 3], [10, 20, 30, 30]) == pytest.approx(5 / 6)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_length_bias():
    # grade scores [4, 4, 3, 1] vs lengths [10, 20, 5, 1]: rho = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10)
    lb = length_bias(list("AABD"), [10, 20, 5, 1])
    assert lb["per_grade"]["A"] == {"count": 2, "mean_length": 15.0}
    assert lb["per_grade"]["D"]["mean_length"] == 1.0
    assert math.isnan(lb["per_grade"]["C"]["mean_length"])
    assert lb["spearman_grade_vs_length"] == pytest.approx(3 / math.sqrt(10))
    assert json_safe(lb)["per_grade"]["C"]["mean_length"] is None


def test_agreement_on_shared_rated_items_only():
    a = {"x": "A", "y": "B", "z": None, "w": "C"}
    b = {"x": "A", "y": "C", "z": "A", "v": "D"}
    row = agreement(a, b)
    assert row["n"] == 2 and row["percent_agreement"] == 0.5
