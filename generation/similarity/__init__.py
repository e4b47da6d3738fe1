"""Exact ROUGE-L for Self-Instruct's near-duplicate filter, without rouge_score's cost.

`rouge_l(a, b)` is rouge_score's `RougeScorer(["rougeL"]).score(a, b)["rougeL"].fmeasure`
(default tokenizer, no stemming), bit for bit. `RougeLIndex` answers the filter's questions
(near-duplicate at a threshold, nearest entry, top-k and mean over the pool) with the same
scores, pruning pairs that provably cannot matter. See docs/similarity.md.
"""
from __future__ import annotations

from rapidfuzz.distance import LCSseq

from .index import Decision, RougeLIndex
from .metadata import SimilarityMetadata
from .scoring import fmeasure
from .tokenize import tokenize

__all__ = ["rouge_l", "RougeLIndex", "Decision", "SimilarityMetadata", "tokenize"]


def rouge_l(target: str, prediction: str) -> float:
    """rouge_score's rougeL F-measure of one pair (0.0 when either side has no tokens).

    The score is symmetric, bitwise (see scoring.py), so argument order does not matter; upstream
    Self-Instruct passes the pool instruction as target and the candidate as prediction.
    """
    a, b = tokenize(target), tokenize(prediction)
    if not a or not b:
        return 0.0
    ids: dict[str, int] = {}
    a_ids = [ids.setdefault(t, len(ids)) for t in a]
    b_ids = [ids.setdefault(t, len(ids)) for t in b]
    return fmeasure(LCSseq.similarity(a_ids, b_ids), len(a), len(b))
