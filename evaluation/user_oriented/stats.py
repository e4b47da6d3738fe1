"""Agreement and bias statistics over A-D grades, as pure functions on plain lists.

Written out here (not taken from scikit-learn/scipy, which the project does not depend on) and
tested against values computed by hand. Undefined statistics (kappa when both raters used a
single identical grade, a correlation with a constant side) are NaN, never a made-up 0 or 1;
`json_safe` turns NaN into null for JSON output.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from itertools import combinations

import numpy as np

GRADES = ("A", "B", "C", "D")
# A is best. Scores used for ordinal statistics (weighted kappa, rank correlation with length).
GRADE_SCORE = {"A": 4, "B": 3, "C": 2, "D": 1}


def percent_agreement(a: Sequence[str], b: Sequence[str]) -> float:
    if len(a) != len(b):
        raise ValueError("rating lists differ in length")
    if not a:
        return math.nan
    return sum(x == y for x, y in zip(a, b)) / len(a)


def cohen_kappa(a: Sequence[str], b: Sequence[str], *, categories: Sequence[str] = GRADES,
                weights: str | None = None) -> float:
    """Cohen's kappa; `weights` "linear" or "quadratic" gives the weighted (ordinal) form.

    kappa = 1 - sum(w * observed) / sum(w * expected), with w the disagreement weights (0 on the
    diagonal); unweighted kappa is the special case w = 1 off the diagonal.
    """
    if len(a) != len(b):
        raise ValueError("rating lists differ in length")
    if not a:
        return math.nan
    index = {c: i for i, c in enumerate(categories)}
    k = len(categories)
    observed = np.zeros((k, k))
    for x, y in zip(a, b):
        observed[index[x], index[y]] += 1
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    i, j = np.indices((k, k))
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "linear":
        w = np.abs(i - j) / (k - 1)
    elif weights == "quadratic":
        w = ((i - j) / (k - 1)) ** 2
    else:
        raise ValueError(f"unknown weights {weights!r}")
    denominator = float((w * expected).sum())
    if denominator == 0:
        return math.nan
    return 1.0 - float((w * observed).sum()) / denominator


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks; tied values share the mean of the ranks they span."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x))
    start = 0
    while start < len(x):
        end = start
        while end + 1 < len(x) and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho with ties: the Pearson correlation of average ranks."""
    if len(x) != len(y):
        raise ValueError("lists differ in length")
    if len(x) < 2:
        return math.nan
    rx, ry = average_ranks(x), average_ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denominator = math.sqrt(float((rx * rx).sum()) * float((ry * ry).sum()))
    if denominator == 0:
        return math.nan
    return float((rx * ry).sum()) / denominator


def length_bias(grades: Sequence[str], lengths: Sequence[int]) -> dict:
    """Does a longer response get a better grade? Mean length per grade, and Spearman's rho
    between grade score (A=4 .. D=1) and length: a clearly positive rho is a length bias."""
    per_grade = {}
    for g in GRADES:
        ls = [n for grade, n in zip(grades, lengths) if grade == g]
        per_grade[g] = {"count": len(ls), "mean_length": (sum(ls) / len(ls)) if ls else math.nan}
    rho = spearman([GRADE_SCORE[g] for g in grades], list(lengths))
    return {"n": len(grades), "per_grade": per_grade, "spearman_grade_vs_length": rho}


def agreement(a: Mapping[Hashable, str | None], b: Mapping[Hashable, str | None]) -> dict:
    """Agreement of two raters on the items both rated (null ratings left out)."""
    shared = sorted((k for k in a.keys() & b.keys() if a[k] is not None and b[k] is not None), key=str)
    xs = [a[k] for k in shared]
    ys = [b[k] for k in shared]
    return {
        "n": len(shared),
        "percent_agreement": percent_agreement(xs, ys),
        "cohen_kappa": cohen_kappa(xs, ys),
        "quadratic_weighted_kappa": cohen_kappa(xs, ys, weights="quadratic"),
    }


def pairwise_agreement(by_rater: Mapping[str, Mapping[Hashable, str | None]],
                       pairs: Sequence[tuple[str, str]] | None = None) -> list[dict]:
    """Agreement for every pair of raters (or the given pairs) with at least one shared item."""
    if pairs is None:
        pairs = list(combinations(sorted(by_rater), 2))
    rows = []
    for r1, r2 in pairs:
        row = agreement(by_rater[r1], by_rater[r2])
        if row["n"]:
            rows.append({"rater_a": r1, "rater_b": r2, **row})
    return rows


def mean_of(rows: Sequence[dict], key: str) -> float:
    values = [r[key] for r in rows if not math.isnan(r[key])]
    return sum(values) / len(values) if values else math.nan


def json_safe(obj):
    """NaN -> None recursively, so summaries are valid JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj
