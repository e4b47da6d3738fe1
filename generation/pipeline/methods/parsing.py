"""Reading the family methods' replies, and the rules that drop what should not be kept.

Pure functions over text: the methods call them in prompt order, so a resumed run or a replay
makes exactly the decisions of the run that recorded the replies.
"""
from __future__ import annotations

import re
import string

_FIELD = re.compile(r"^\s*(Instruction|Input|Constraints)\s*:\s*", re.MULTILINE)
_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s*(.*)$")
# What a reply made of nothing but these words and punctuation says: nothing.
STOP_WORDS = frozenset(["a", "an", "and", "are", "as", "at", "be", "but", "by", "do", "does", "for", "from", "had", "has", "have", "he", "her", "him", "his", "i", "if", "in", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "she", "so", "that", "the", "their", "them", "then", "there", "they", "this", "to", "up", "us", "was", "we", "were", "what", "when", "which", "who", "will", "with", "you", "your", "yes", "ok", "okay"])


def parse_example(completion: str) -> tuple[str, str, str] | None:
    """(instruction, input, constraints) of a generated example, or None when a field is
    missing, repeated or empty. `completion` continues a prompt that ends in "Instruction:"."""
    text = "Instruction: " + completion.strip()
    marks = list(_FIELD.finditer(text))
    names = [m.group(1) for m in marks]
    if names != ["Instruction", "Input", "Constraints"]:
        return None
    values = [text[m.end():(marks[i + 1].start() if i + 1 < len(marks) else len(text))].strip()
              for i, m in enumerate(marks)]
    values[2] = values[2].split("\n\n", 1)[0].strip()  # whatever follows the example is not part of it
    return (values[0], values[1], values[2]) if all(values) else None


def parse_numbered(completion: str, limit: int) -> list[str]:
    """The items of a numbered list whose "1." the prompt already wrote, in order, up to
    `limit`; a line that breaks the numbering ends the list."""
    items: list[str] = []
    for n, line in enumerate(("1. " + completion.lstrip()).splitlines()):
        m = _NUMBERED.match(line)
        if m is None or int(m.group(1)) != len(items) + 1:
            if n == 0 or not line.strip():
                continue
            break
        if m.group(2).strip():
            items.append(m.group(2).strip())
        if len(items) >= limit:
            break
    return items


def is_yes(answer: str) -> bool | None:
    """Yes, No, or None for anything else (an unanswered comparison keeps the evolution)."""
    word = answer.strip().split()[0].strip(string.punctuation).lower() if answer.strip() else ""
    return True if word == "yes" else False if word == "no" else None


def is_refusal(answer: str, max_words: int) -> bool:
    """A short reply that apologises: the model declined rather than answered."""
    return "sorry" in answer.lower() and len(answer.split()) < max_words


def says_nothing(answer: str) -> bool:
    """Only punctuation and stop words (or nothing at all)."""
    words = re.findall(r"[^\W_]+", answer.lower())
    return all(w in STOP_WORDS for w in words)


def copies_scaffold(instruction: str, scaffold: list[str]) -> bool:
    """The evolution repeats the prompt's own wording ("harder version", "new task") instead of
    being a task of its own."""
    low = instruction.lower()
    return any(phrase in low for phrase in scaffold)


def clean_evolution(completion: str) -> str:
    """The evolved instruction: the reply, stripped, without wrapping quotes."""
    text = completion.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text
