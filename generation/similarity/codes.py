"""How the index spells a text for rapidfuzz, shared by the index and the scoring passes below it.

These live under the index rather than in it so that `batch` and `metadata`, which score whole
rows for the index, depend on this module and never on `index` (an import cycle otherwise).
`PoolView` is what those passes may read of a pool: a protocol, so they need no import of the
class that implements it.
"""
from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


def char(token_id: int) -> str:
    """Code point for a token id, skipping the surrogate block (ids start at 1; 0 = unknown)."""
    return chr(token_id + 0x800) if token_id >= 0xD800 else chr(token_id)


def unchar(ch: str) -> int:
    c = ord(ch)
    return c - 0x800 if c >= 0xE000 else c


@dataclass
class Query:
    tokens: list[str]
    code: str | list[int]
    n: int
    elements: list  # inverted-index keys of the occurrences of tokens the pool knows
    unknown: int  # occurrences of tokens the pool has never seen


def occurrence_keys(symbols: list, as_lists: bool) -> list:
    """Inverted-index key of each token occurrence: the k-th occurrence of a token is its own
    element (so multiset intersection is set intersection). With 1-char symbols the key is
    the symbol repeated k times, which is cheap to hash and cannot collide."""
    if len(set(symbols)) == len(symbols):
        return list(symbols)  # no repeated token: each key is the symbol itself
    seen: dict = {}
    out = []
    if as_lists:
        for sym in symbols:
            k = seen[sym] = seen.get(sym, 0) + 1
            out.append(sym if k == 1 else (sym, k))
    else:
        for sym in symbols:
            k = seen[sym] = seen.get(sym, 0) + 1
            out.append(sym if k == 1 else sym * k)
    return out


def grown(values: np.ndarray, size: int) -> np.ndarray:
    """`values` with room for `size` entries, zero-filled: capacity doubles, so a stream of
    small catch-ups copies each entry O(1) times."""
    if size <= len(values):
        return values
    out = np.zeros((max(1024, 2 * len(values), size),) + values.shape[1:], values.dtype)
    out[:len(values)] = values
    return out


def check_text(text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")


class PoolView(Protocol):
    """The part of `RougeLIndex` that `batch.judge_chunk` and `metadata.batch_metadata` use."""

    @property
    def as_lists(self) -> bool: ...  # symbols are ints (the vocabulary outgrew code points)

    @property
    def lens(self) -> array: ...  # token count of each entry

    @property
    def first_with_code(self) -> dict: ...  # an entry's token sequence -> the first entry with it

    @property
    def pool_texts(self) -> Sequence[str]: ...  # the entries' texts, not a copy

    def __len__(self) -> int: ...

    def query(self, text: str, elements: bool = True) -> Query: ...

    def encode_new(self, tokens: list[str]) -> str | list[int]: ...

    def pool_tokens_only(self, codes: list) -> list: ...

    def scoring_codes(self) -> tuple[dict[int, str] | None, list]: ...

