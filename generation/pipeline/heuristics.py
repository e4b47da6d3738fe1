"""The paper's heuristic instruction filters, as one pure function.

Returns the name of the first rule that rejects an instruction (so `rejected.jsonl` can say
why) or None when it passes. The rules and their order follow the released code: empty, too
short/long, unsuitable keywords (a text-only model cannot see images or open files), "Write a
program" (ambiguous between writing code and doing the task), leading punctuation, leading
non-ASCII character.
"""
from __future__ import annotations

import re
import string

MIN_WORDS_EXCLUSIVE = 3  # <= 3 words is rejected
MAX_WORDS = 150  # > 150 words is rejected
BLOCKED_WORDS: tuple[str, ...] = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
    "map", "maps", "draw", "plot", "go to",
)
_BLOCKED = re.compile(r"\b(" + "|".join(re.escape(w) for w in BLOCKED_WORDS) + r")\b", re.IGNORECASE)


def heuristic_rejection(instruction: str) -> str | None:
    if instruction == "":
        return "empty"
    n_words = len(instruction.split())
    if n_words <= MIN_WORDS_EXCLUSIVE:
        return "too_short"
    if n_words > MAX_WORDS:
        return "too_long"
    if _BLOCKED.search(instruction):
        return "blocked_word"
    if instruction.startswith("Write a program"):
        return "write_a_program"
    if instruction[0] in string.punctuation:
        return "starts_with_punctuation"
    if not instruction[0].isascii():
        return "starts_with_non_ascii"
    return None
