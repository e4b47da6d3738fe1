"""The verdict type of the near-duplicate filter, below both places that produce one (the
index's screen and `batch`'s whole-row pass), so neither has to import the other for it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """Outcome of `RougeLIndex.admit`: kept, or rejected with its nearest pool entry."""

    kept: bool
    index: int | None = None  # the new entry's index when kept; the nearest entry's when rejected
    score: float | None = None  # max ROUGE-L when rejected (None when kept: not computed)
