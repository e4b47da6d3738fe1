"""ROUGE-L F-measure from an LCS length, in the same floating-point steps as rouge_score.

rouge_score computes precision = lcs / len(prediction), recall = lcs / len(target) and
f = 2 * precision * recall / (precision + recall) (0 when either side has no tokens or the LCS
is empty). Mathematically that is 2*lcs/(m+n), but the rounded results can differ in the last
bit, and a keep/reject decision at exactly 0.7 depends on that bit, so every score here repeats
rouge_score's operations in the same order. IEEE-754 division and multiplication are correctly
rounded in both Python and numpy, and `2 * p` is exact, so the result is also bitwise
symmetric in (target, prediction): argument order cannot change a score.
"""
from __future__ import annotations

import functools

import numpy as np


# Relative slack on every pruning bound. Computed F-measures are within a few ulps (~1e-15
# relative) of 2*lcs/(m+n); pruning a pair only when even this much slack cannot save it keeps
# the filter exact whatever the last-bit rounding of the real score.
_EPS = 1e-9


def slackened(threshold: float) -> float:
    """A threshold lowered by _EPS, as every pruning bound (the screens', top-k's) uses it, so
    that rounding cannot prune a pair that passes."""
    return threshold * (1.0 - _EPS)


def fmeasure(lcs: int, target_len: int, prediction_len: int) -> float:
    if lcs <= 0 or target_len <= 0 or prediction_len <= 0:
        return 0.0
    precision = lcs / prediction_len
    recall = lcs / target_len
    return 2 * precision * recall / (precision + recall)


def fmeasure_array(lcs: np.ndarray, target_lens: np.ndarray | int, prediction_len: np.ndarray | int) -> np.ndarray:
    """Vectorised `fmeasure`: float64 results bitwise equal to the scalar version."""
    lcs = np.asarray(lcs, dtype=np.float64)
    precision = lcs / prediction_len if np.isscalar(prediction_len) and prediction_len else None
    if precision is None:
        precision = np.divide(lcs, prediction_len, out=np.zeros_like(lcs), where=lcs > 0)
    recall = np.divide(lcs, target_lens, out=np.zeros_like(lcs), where=lcs > 0)
    num = 2.0 * precision * recall
    den = precision + recall
    return np.divide(num, den, out=np.zeros_like(lcs), where=lcs > 0)  # lcs == 0 -> 0, as rouge_score


_TABLE_MAX_CELLS = 1 << 20


@functools.lru_cache(maxsize=256)
def _table(prediction_len: int, width: int) -> np.ndarray:
    lcs = np.broadcast_to(np.arange(prediction_len + 1, dtype=np.float64)[:, None], (prediction_len + 1, width))
    with np.errstate(divide="ignore", invalid="ignore"):  # cells with lcs > target length: never read
        return fmeasure_array(lcs, np.arange(width)[None, :], prediction_len).ravel()


def fmeasure_row(lcs: np.ndarray, target_lens: np.ndarray, prediction_len: int, width: int,
                 out: np.ndarray | None = None, scratch: np.ndarray | None = None) -> np.ndarray:
    """`fmeasure_array` for one query against many targets, by table lookup.

    For a fixed query length the score depends only on (lcs, target length), so all of them are
    computed once (by `fmeasure_array`, hence bitwise the same) and a row is one gather: about
    10x cheaper than the arithmetic, which matters when every pair of a 50k pool is scored.
    `width` must exceed every target length. `out` (float64) and `scratch` (int32, for int32
    `lcs`), if given, receive the result and the table indices, so a caller scoring many rows
    allocates nothing per row.
    """
    if (prediction_len + 1) * width > _TABLE_MAX_CELLS:
        row = fmeasure_array(lcs, target_lens, prediction_len)
        if out is None:
            return row
        out[:] = row
        return out
    if lcs.dtype == np.int32:
        index = np.multiply(lcs, np.int32(width), out=scratch)
    else:
        index = lcs.astype(np.int64) * width
    np.add(index, target_lens, out=index, casting="unsafe")
    # every index is in range by construction (lcs <= prediction_len, target length < width);
    # "clip" skips numpy's checked path, which costs ten times the gather itself
    return _table(prediction_len, width).take(index, out=out, mode="clip")
