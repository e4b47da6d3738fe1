"""Self-Instruct's near-duplicate filter over any instruction file, as pure functions.

Records are judged in file order; each meets the reference pool (`--against`) plus every record
kept before it, exactly as the bootstrap step judges candidates against seeds plus the machine
instructions kept so far. I/O lives in cli.py.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..jsonl import iter_jsonl
from .index import RougeLIndex


@dataclass(frozen=True)
class Record:
    """A text to judge, with where it came from so a rejection can name its nearest match."""

    file: str
    line: int
    data: dict[str, Any]
    text: str


@dataclass(frozen=True)
class Verdict:
    record: Record
    kept: bool
    score: float | None = None  # highest ROUGE-L against the pool, when rejected
    nearest: Record | None = None  # the first pool entry reaching it, when rejected
    fields: dict[str, Any] | None = None  # similarity metadata of a kept record (`metadata=`)


METADATA_MODES = ("none", "top10", "full")


@dataclass(frozen=True)
class MetadataPolicy:
    """What a kept record carries. "full": upstream's `most_similar` (numpy < 1.25's tie order)
    and exact `avg_similarity_score` over the whole pool: quadratic. "top10": the ten most
    similar by bounded search (equal scores by pool order), the mean exact while the pool has at
    most `exact_mean_max` entries and beyond that `avg_similarity_score_estimate` with
    `avg_similarity_sample_size` (a uniform sample of `mean_sample`), never an unnamed estimate."""

    mode: str = "none"
    exact_mean_max: int = 50_000
    mean_sample: int = 10_000

    def fields(self, index: RougeLIndex, text: str, upto: int) -> dict[str, Any] | None:
        if self.mode == "none":
            return None
        if self.mode == "full":
            md = index.metadata_batch([text], upto=upto, workers=1)[0]
            return {"most_similar": md.most_similar, "avg_similarity_score": md.avg_similarity_score}
        top = index.top_k_bounded(text, 10, upto=upto)
        out: dict[str, Any] = {"most_similar": {index.text(i): s for i, s in top}}
        sample = upto if upto <= self.exact_mean_max else self.mean_sample
        mean = index.mean_estimate(text, sample, upto=upto, seed=upto)
        if mean.exact:
            out["avg_similarity_score"] = mean.value
        else:
            out["avg_similarity_score_estimate"] = mean.value
            out["avg_similarity_sample_size"] = mean.sample_size
        return out


def read_records(path: str | Path, field: str) -> Iterator[Record]:
    """Records of a JSONL file with a string in `field`; anything else is an InputError."""
    for line, obj in iter_jsonl(path):
        if not isinstance(obj, dict):
            raise InputError(f"expected a JSON object, got {type(obj).__name__}", file=path, line=line)
        if field not in obj:
            raise InputError("missing field", file=path, line=line, field=field)
        text = obj[field]
        if not isinstance(text, str):
            raise InputError(f"expected a string, got {type(text).__name__}", file=path, line=line, field=field)
        yield Record(str(path), line, obj, text)


def deduplicate(records: Iterable[Record], against: Iterable[Record] = (), *, threshold: float = 0.7,
                inclusive: bool = False, metadata: MetadataPolicy = MetadataPolicy()) -> Iterator[Verdict]:
    """Yield a verdict per record, in order (lazily, so a caller can stream and show progress);
    a kept one carries `metadata`'s fields against the pool before it."""
    index = RougeLIndex(threshold=threshold, inclusive=inclusive)
    pool: list[Record] = []
    for ref in against:
        index.add(ref.text)
        pool.append(ref)
    for record in records:
        decision = index.admit(record.text)
        if decision.kept:
            pool.append(record)
            yield Verdict(record, True, fields=metadata.fields(index, record.text, decision.index))
        else:
            yield Verdict(record, False, decision.score, pool[decision.index])


def rejection_record(verdict: Verdict) -> dict[str, Any]:
    """One line of the rejected file: the record untouched, plus why it went."""
    nearest = verdict.nearest
    return {
        "line": verdict.record.line,
        "record": verdict.record.data,
        "score": verdict.score,
        "nearest": None if nearest is None else {
            "text": nearest.text, "file": nearest.file, "line": nearest.line},
    }
