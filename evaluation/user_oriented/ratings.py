"""Ratings: one JSONL record per (task id, model, rater), from LLM judges or from people.

Fields: `id`, `model`, `rater` (`llm:<judge>` or `llm:<judge>#<sample>`, `human:<name>`),
`rating` ("A".."D" or null when the rater gave no usable verdict), `explanation`, `raw`, plus
free extra fields. The loader refuses duplicates and unknown items so that a merge or a report
never double-counts a rater or scores an item that is not in the set.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import iter_jsonl

from .stats import GRADES

RatingKey = tuple[str, str, str]  # (id, model, rater)


@dataclass(frozen=True)
class Rating:
    id: str
    model: str
    rater: str
    rating: str | None
    explanation: str | None = None
    raw: object = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def key(self) -> RatingKey:
        return (self.id, self.model, self.rater)

    @property
    def item(self) -> tuple[str, str]:
        return (self.id, self.model)

    def to_json(self) -> dict:
        return {"id": self.id, "model": self.model, "rater": self.rater, "rating": self.rating,
                "explanation": self.explanation, "raw": self.raw, **self.extra}


_CORE = ("id", "model", "rater", "rating", "explanation", "raw")


def rating_from_json(obj: object, *, path: str | Path, line: int | None, prefix: str = "") -> Rating:
    """Validate one record; errors name the field (with `prefix` for nested JSON)."""
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object", file=path, line=line, field=prefix.rstrip(".") or None)
    for key in ("id", "model", "rater"):
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InputError("missing or not a non-empty string", file=path, line=line, field=prefix + key)
    if "rating" not in obj:
        raise InputError("missing field", file=path, line=line, field=prefix + "rating")
    rating = obj["rating"]
    if rating is not None and rating not in GRADES:
        raise InputError(f"expected one of A, B, C, D or null, got {rating!r}", file=path, line=line,
                         field=prefix + "rating")
    explanation = obj.get("explanation")
    if explanation is not None and not isinstance(explanation, str):
        raise InputError("expected a string or null", file=path, line=line, field=prefix + "explanation")
    extra = {k: v for k, v in obj.items() if k not in _CORE}
    return Rating(obj["id"], obj["model"], obj["rater"], rating, explanation, obj.get("raw"), extra)


def check_known(rating: Rating, known_ids: set[str] | None, known_items: set[tuple[str, str]] | None, *,
                path: str | Path, line: int | None, prefix: str = "") -> None:
    if known_ids is not None and rating.id not in known_ids:
        raise InputError(f"unknown task id {rating.id!r} (not one of the user-oriented tasks)",
                         file=path, line=line, field=prefix + "id")
    if known_items is not None and rating.item not in known_items:
        raise InputError(f"no prediction of model {rating.model!r} for task {rating.id!r}",
                         file=path, line=line, field=prefix + "model")


def load_ratings(path: str | Path, *, known_ids: set[str] | None = None,
                 known_items: set[tuple[str, str]] | None = None, allow_torn_tail: bool = False) -> list[Rating]:
    path = Path(path)
    out: list[Rating] = []
    seen: dict[RatingKey, int] = {}
    for line, obj in iter_jsonl(path, allow_torn_tail=allow_torn_tail):
        r = rating_from_json(obj, path=path, line=line)
        check_known(r, known_ids, known_items, path=path, line=line)
        if r.key in seen:
            raise InputError(f"duplicate rating of task {r.id!r}, model {r.model!r} by {r.rater!r} "
                             f"(first on line {seen[r.key]})", file=path, line=line, field="id")
        seen[r.key] = line
        out.append(r)
    return out


def load_many(paths: Sequence[str | Path], *, known_ids: set[str] | None = None) -> list[Rating]:
    """Several ratings files; the same (id, model, rater) in two files is a duplicate too."""
    merged: list[Rating] = []
    owner: dict[RatingKey, Path] = {}
    for p in paths:
        for r in load_ratings(p, known_ids=known_ids):
            if r.key in owner:
                raise InputError(f"duplicate rating of task {r.id!r}, model {r.model!r} by {r.rater!r} "
                                 f"(also in {owner[r.key]})", file=p, field="id")
            owner[r.key] = Path(p)
            merged.append(r)
    return merged


def grade_counts(ratings: Iterable[Rating]) -> dict[str, dict[str, int]]:
    """Per model: how many ratings of each grade, and how many null ("unrated")."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {g: 0 for g in (*GRADES, "unrated")})
    for r in ratings:
        counts[r.model][r.rating if r.rating is not None else "unrated"] += 1
    return {m: counts[m] for m in sorted(counts)}


def shares(ratings: Iterable[Rating]) -> dict[str, dict]:
    """Per model: share of each grade over *rated* ratings, and the count of null ratings.

    Every (item, rater) rating counts once, so with several raters a model's shares are the mean
    over raters weighted by how many items each rated. A model with no rated item has shares
    of None: undefined, not 0%.
    """
    out = {}
    for model, c in grade_counts(ratings).items():
        rated = sum(c[g] for g in GRADES)
        out[model] = {**{g: (c[g] / rated if rated else None) for g in GRADES}, "unrated": c["unrated"]}
    return out


def by_rater(ratings: Iterable[Rating]) -> dict[str, dict[tuple[str, str], str | None]]:
    """rater -> {(id, model): grade} for the agreement statistics."""
    out: dict[str, dict[tuple[str, str], str | None]] = defaultdict(dict)
    for r in ratings:
        out[r.rater][r.item] = r.rating
    return dict(out)


def rater_kind(rater: str) -> str:
    return rater.split(":", 1)[0] if ":" in rater else "other"
