"""Which split a row lands in: a hash of the instruction it belongs to, so the validation split
is the same on every machine and every rebuild, and no task is in both splits.

Pure: the readers (records.py) produce the rows and the related-instruction groups; this module
only decides. A row's split key is its instruction; a prompt or chat turn is mapped back to its
instruction by prefix; and an instruction that is a near-copy of another (a paraphrase, an
evolved instruction) is replaced by its group's key, so the copies follow the original.
"""
from __future__ import annotations

from collections.abc import Iterable

from selfinstruct.generation.records import instruction_digest, normalize_instruction


def split_of(instruction: str, validation_size: float) -> str:
    """'validation' for a fixed fraction of instructions, chosen by hash: every row of one
    instruction lands in the same split, in every config, on every machine."""
    if validation_size <= 0:
        return "train"
    bucket = int.from_bytes(instruction_digest(instruction)[:8], "big") / 2**64
    return "validation" if bucket < validation_size else "train"


class InstructionMatcher:
    """Finds which instruction a finetuning prompt (or chat turn) was made from.

    Every finetuning template starts with the instruction (optionally after "Task: "), so a
    prefix lookup bucketed by the first characters finds it in O(1) per row. The split of a
    prompt/completion row then follows its instruction, not its wording.
    """

    PREFIX = 24

    def __init__(self, instructions: Iterable[str]) -> None:
        self._buckets: dict[str, list[str]] = {}
        self._short: dict[str, str] = {}  # instructions shorter than PREFIX, by their whole text
        for text in {" ".join(t.split()) for t in instructions if t.strip()}:
            if len(text) < self.PREFIX:
                self._short.setdefault(text.casefold(), text)
            else:
                self._buckets.setdefault(text[: self.PREFIX].casefold(), []).append(text)
        for bucket in self._buckets.values():
            bucket.sort(key=len, reverse=True)

    def find(self, text: str) -> str | None:
        """The longest known instruction the text starts with (after an optional "Task:")."""
        flat = " ".join(text.split())
        if flat.startswith("Task:"):
            flat = flat[len("Task:"):].lstrip()
        folded = flat.casefold()
        for candidate in self._buckets.get(folded[: self.PREFIX], ()):
            if folded.startswith(candidate.casefold()):
                return candidate
        for length in range(min(len(folded), self.PREFIX - 1), 0, -1):
            if folded[:length] in self._short:
                return self._short[folded[:length]]
        return None


def split_key(config: str, row: dict, matcher: InstructionMatcher | None,
              groups: dict[str, str] | None = None) -> str:
    """The text whose hash decides a row's split: the row's instruction (found behind the
    template for prompt/completion and chat rows), or the key of the group it belongs to.

    `groups` maps a normalized instruction to its group's key (records.split_groups); an
    instruction in no group is its own key, which is every instruction of a Self-Instruct run.
    """
    if "instruction" in row:
        text = row["instruction"]
    else:
        if config == "messages":
            text = next((m["content"] for m in row["messages"] if m["role"] == "user"), "")
        else:
            text = row["prompt"]
        found = matcher.find(text) if matcher is not None else None
        text = found if found is not None else text
    return groups.get(normalize_instruction(text), text) if groups else text
