"""rouge_score's default tokenizer (no stemming), reimplemented so the index never has to import
rouge_score (which drags in nltk and absl) yet tokenizes identically.

rouge_score lowercases with `str.lower()`, turns every run of characters outside [a-z0-9] into a
space, splits, and keeps tokens matching ^[a-z0-9]+$. After the substitution the only
characters left are [a-z0-9] and spaces, so that is exactly "the maximal [a-z0-9] runs of the
lowercased text". Non-ASCII letters are separators, except where Python's `str.lower()` maps
them to ASCII (KELVIN SIGN -> "k", "İ" -> "i" + a combining dot); because we call the same
`str.lower()`, those cases agree too. The property tests check all of this against rouge_score.
"""
from __future__ import annotations

import re

_TOKEN_RE = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Tokens of `text` exactly as `rouge_score.tokenize.tokenize(text, None)` returns them."""
    return _TOKEN_RE.findall(text.lower())
