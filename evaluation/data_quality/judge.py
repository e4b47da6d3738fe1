"""Asking the judge: every item in one batch, replies not in the required form asked again.

A request the backend could not complete is not recorded, so rerunning the command sends it
again; a reply still not in form after the retries is recorded with `answers: null`, so it is
counted as unanswered rather than silently dropped or guessed.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import iter_jsonl
from selfinstruct.generation.lm.base import LanguageModel, SamplingParams

from ..user_oriented.judge import JudgeStats, ask_again, judge_request
from .items import Item
from .spec import ANSWERS, DataQualitySpec


@dataclass(frozen=True)
class DQRating:
    id: str
    rater: str  # llm:<model> or human:<name>
    answers: dict[str, str] | None  # question key -> yes/no; None: the judge never answered in form
    raw: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        return {"id": self.id, "rater": self.rater, "answers": self.answers, "raw": self.raw, **self.extra}


def load_ratings(path: Path, known_ids: set[str], keys: Sequence[str]) -> list[DQRating]:
    """The ratings file, checked: known items only, one rating per (item, rater)."""
    out, seen = [], set()
    for line, row in iter_jsonl(path, allow_torn_tail=True):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not isinstance(row.get("rater"), str):
            raise InputError("expected an object with id and rater", file=path, line=line)
        if row["id"] not in known_ids:
            raise InputError(f"item {row['id']!r} is not in this folder's sample", file=path, line=line, field="id")
        answers = row.get("answers")
        if answers is not None and (not isinstance(answers, dict)
                                    or any(k not in keys or v not in ANSWERS for k, v in answers.items())):
            raise InputError(f"expected null or {{question: yes|no}} with questions {', '.join(keys)}",
                             file=path, line=line, field="answers")
        if (row["id"], row["rater"]) in seen:
            raise InputError(f"item {row['id']!r} rated twice by {row['rater']!r}", file=path, line=line)
        seen.add((row["id"], row["rater"]))
        extra = {k: v for k, v in row.items() if k not in ("id", "rater", "answers", "raw")}
        out.append(DQRating(row["id"], row["rater"], answers, row.get("raw"), extra))
    return out


@dataclass
class _Pending:
    item: Item
    messages: list[dict]
    attempts: int = 0


def ask_judge(items: Sequence[Item], lm: LanguageModel, *, rater: str, model: str, spec: DataQualitySpec,
              params: SamplingParams, retries: int, use_chat: bool, on_rating: Callable[[DQRating], None],
              progress: Callable[[int], None] | None = None) -> JudgeStats:
    """Ask about every item; `rated`/`unrated` in the stats count answered/unanswered items."""
    stats = JudgeStats()
    pending = [_Pending(item, spec.messages(item.instruction, item.input, item.output)) for item in items]
    for attempt in range(retries + 1):
        if not pending:
            break
        if attempt:
            stats.retried += len(pending)
        requests = [judge_request(p.messages, params, use_chat=use_chat) for p in pending]
        stats.requests += len(requests)
        still = []
        for p, result in zip(pending, lm.generate(requests)):
            if not result.ok:
                stats.failed(p.item.id, result.error)
                if progress:
                    progress(1)
                continue
            p.attempts += 1
            answers = spec.parse(result.text)
            if answers is None and attempt < retries:
                p.messages = ask_again(p.messages, result.text, spec.prompt["reminder"])
                still.append(p)
                continue
            stats.rated += answers is not None
            stats.unrated += answers is None
            on_rating(DQRating(p.item.id, rater, answers, result.text,
                               {"judge_model": model, "judge_spec": spec.version, "attempts": p.attempts}))
            if progress:
                progress(1)
        pending = still
    return stats
