"""Exact duplicates the near-duplicate test cannot see.

rouge_score's tokenizer keeps only runs of [a-z0-9] (after lowercasing), so an instruction
written in Chinese, Cyrillic or Arabic script tokenizes to nothing, scores 0 against anything,
and every copy of it passes the ROUGE-L filter. Comparing the texts themselves, after collapsing
whitespace and casefolding, catches the copies whatever the script; near copies in such scripts
still pass, which the filter command warns about.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

RULE = "exact_duplicate"
_ROUGE_TOKEN = re.compile(r"[a-z0-9]")

T = TypeVar("T")


def exact_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def invisible_to_rouge(text: str) -> bool:
    """True when rouge_score finds no token in `text`: ROUGE-L cannot tell it from anything."""
    return _ROUGE_TOKEN.search(text.lower()) is None


def copy_score(text: str) -> float:
    """The highest ROUGE-L a copy scores against the pool, without scoring it: 1.0 (its original;
    nothing scores more), or 0.0 for a text without a token (it scores 0 against everything)."""
    return 0.0 if invisible_to_rouge(text) else 1.0


class ExactDuplicates(Generic[T]):
    """The normalised texts seen so far, each with the first item (by default the text) that had it."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._first: dict[str, Any] = {}
        for text in texts:
            self.add(text)

    def first(self, text: str, key: str | None = None) -> T | str | None:
        """What this text duplicates, or None. `key` is `exact_key(text)` when the caller has it."""
        return self._first.get(exact_key(text) if key is None else key)

    def add(self, text: str, item: T | None = None, key: str | None = None) -> None:
        self._first.setdefault(exact_key(text) if key is None else key, text if item is None else item)


def split_exact_duplicates(items: Sequence[T], against: Sequence[T] = (), *,
                           text: Callable[[T], str]) -> tuple[list[T], list[tuple[T, T]]]:
    """(items that copy neither `against` nor an earlier item, [(copy, what it copies)])."""
    seen: ExactDuplicates[T] = ExactDuplicates()
    for ref in against:
        seen.add(text(ref), ref)
    unique, copies = [], []
    for item in items:
        original = seen.first(text(item))
        if original is None:
            seen.add(text(item), item)
            unique.append(item)
        else:
            copies.append((item, original))
    return unique, copies


def rejection_record(record: Any, original: Any) -> dict[str, Any]:
    """A rejected-file line for the filter command, shaped like its ROUGE-L rejections; the
    records are `similarity.dedup.Record`s (file, line, data, text)."""
    return {"line": record.line, "record": record.data, "rule": RULE, "score": copy_score(record.text),
            "nearest": {"text": original.text, "file": original.file, "line": original.line}}


def rouge_blind_warning(texts: Iterable[str]) -> str | None:
    n = sum(1 for t in texts if invisible_to_rouge(t))
    if not n:
        return None
    return (f"warning: {n} record(s) have no a-z/0-9 characters, which ROUGE-L cannot compare: exact copies "
            f"are dropped ({RULE}), near copies are not caught")
