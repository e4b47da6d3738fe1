"""Exact ROUGE-L similarity for Self-Instruct's near-duplicate filter.

Temporary exact-but-slow version built directly on rouge_score; the fast index lands behind the
same API.
"""
from __future__ import annotations

from collections.abc import Iterable

from rouge_score import rouge_scorer

__all__ = ["rouge_l", "RougeLIndex"]

_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(target: str, prediction: str) -> float:
    """rouge_score's rougeL f-measure; upstream calls score(pool_instruction, candidate)."""
    return _SCORER.score(target, prediction)["rougeL"].fmeasure


class RougeLIndex:
    def __init__(self, texts: Iterable[str] = (), *, threshold: float = 0.7, inclusive: bool = False) -> None:
        self.threshold = threshold
        self.inclusive = inclusive
        self._texts: list[str] = []
        for t in texts:
            self.add(t)

    def add(self, text: str) -> int:
        self._texts.append(text)
        return len(self._texts) - 1

    def __len__(self) -> int:
        return len(self._texts)

    def text(self, i: int) -> str:
        return self._texts[i]

    def scores(self, text: str) -> list[float]:
        return [rouge_l(t, text) for t in self._texts]

    def max_score(self, text: str) -> tuple[float, int | None]:
        best, best_i = 0.0, None
        for i, s in enumerate(self.scores(text)):
            if best_i is None or s > best:
                best, best_i = s, i
        return best, best_i

    nearest = max_score

    def is_near_duplicate(self, text: str, threshold: float | None = None, inclusive: bool | None = None) -> bool:
        threshold = self.threshold if threshold is None else threshold
        inclusive = self.inclusive if inclusive is None else inclusive
        score, _ = self.max_score(text)
        return score >= threshold if inclusive else score > threshold

    def top_k(self, text: str, k: int = 10) -> list[tuple[int, float]]:
        import numpy as np
        s = np.asarray(self.scores(text), dtype=float)
        order = np.argsort(s)[-k:][::-1] if k > 0 else []
        return [(int(i), float(s[i])) for i in order]

    def mean_score(self, text: str) -> float:
        s = self.scores(text)
        return sum(s) / len(s) if s else 0.0
