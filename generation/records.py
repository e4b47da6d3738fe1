"""The typed records of a run, from a parsed response to a dataset row, and the naming rules they
share.

The pipeline writes these records and the dataset readers read them back, so both sides take the
rules (what counts as a "yes", how an instruction is identified, how an instance becomes a chat
turn) from this one module: a rule written twice drifts, and a dataset built from a run would
then disagree with the run about its own labels.

`to_row` gives the JSON object each record is stored as. The key order is part of the run
directory's format (docs/run-directory.md): files written by two versions of the toolkit from the
same responses are byte-identical.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

# -- rules ---------------------------------------------------------------------------------------

_LENIENT_YES = re.compile(r"\s*yes\b", flags=re.IGNORECASE)
STRICT_YES = ("Yes", "yes", "YES")


def is_classification_answer(answer: str, *, lenient: bool) -> bool:
    """Step 2's answer as a label. The released scripts accept exactly Yes/yes/YES after
    stripping (`lenient=False`, also the rule for reading their files); the default profile
    accepts any case of "yes" as the first word, which chat models often follow with a reason."""
    if lenient:
        return _LENIENT_YES.match(answer) is not None
    return answer.strip() in STRICT_YES


def instruction_id(position: int) -> str:
    """The id of the kept instruction at `position` (0-based) in a run."""
    return f"instruction_{position}"


def normalize_instruction(text: str) -> str:
    """The identity of an instruction: whitespace runs collapsed and case folded, so the
    upstream `capitalize()` quirk or a stray double space never splits one task in two."""
    return " ".join(text.split()).casefold()


def instruction_digest(text: str) -> bytes:
    return hashlib.sha256(normalize_instruction(text).encode("utf-8")).digest()


def derived_instruction_id(text: str) -> str:
    """A stable id for folders written by the original scripts, which record no ids."""
    return "instruction_sha256_" + instruction_digest(text).hex()[:16]


def user_content(instruction: str, inp: str) -> str:
    """The chat user turn of one instance: the instruction, then its input after a blank line."""
    instruction, inp = instruction.strip(), inp.strip()
    return f"{instruction}\n\n{inp}" if inp else instruction


def response_metadata(rec: dict) -> dict[str, Any]:
    """What a kept row records of the exchange it came from (the upstream `metadata` field)."""
    return {"prompt": rec.get("prompt"), "response": rec.get("response"), "created_at": rec.get("created_at")}


# -- records -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeptInstruction:
    """An instruction step 1 kept, with its similarity to the pool it joined."""

    id: str
    instruction: str
    most_similar: dict[str, float] | None
    avg_similarity_score: float | None
    request_idx: int | None
    metadata: dict[str, Any] | None  # shared by every instruction kept from one response

    def to_row(self, metadata: Any = None) -> dict[str, Any]:
        """The stored row; `metadata` replaces the exchange (an encoded fragment) when given."""
        return {"instruction": self.instruction, "most_similar": self.most_similar,
                "avg_similarity_score": self.avg_similarity_score,
                "metadata": self.metadata if metadata is None else metadata,
                "request_idx": self.request_idx, "id": self.id}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A candidate some rule dropped, with what `rejected.jsonl` needs to explain it."""

    step: str
    request_idx: int | None
    candidate: Any  # an instruction (str) or an {"input", "output"} pair
    rule: str
    score: float | None = None  # similarity rejections: the highest ROUGE-L
    nearest: str | None = None
    instruction: str | None = None  # instance rejections: the task the pair belonged to

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"step": self.step, "request_idx": self.request_idx}
        if self.instruction is not None:
            row["instruction"] = self.instruction
        row["candidate"], row["rule"] = self.candidate, self.rule
        if self.score is not None:
            row["score"], row["nearest"] = self.score, self.nearest
        return row


@dataclass(frozen=True, slots=True)
class Label:
    """Step 2's answer for one kept instruction."""

    id: str
    instruction: str
    answer: str  # the model's text, as upstream's `is_classification` field holds it
    is_classification: bool

    def to_row(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "is_classification": self.answer, "id": self.id,
                "label": self.is_classification}


@dataclass(frozen=True, slots=True)
class Instance:
    """One kept (input, output) pair of a task: a row of the `instances` config."""

    id: str
    instruction: str
    input: str
    output: str
    is_classification: bool | None

    def to_row(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "input": self.input, "output": self.output, "id": self.id,
                "is_classification": self.is_classification}


@dataclass(frozen=True, slots=True)
class TrainingInstance:
    """An instance on its way into the finetuning formats (machine-made or a seed's)."""

    id: str  # instruction_<n> or seed_task_<n>
    instruction: str
    input: str
    output: str


@dataclass(frozen=True, slots=True)
class InstanceResponse:
    """Step 3's raw answer for one kept instruction, before its instances are parsed (the
    upstream `machine_generated_instances.jsonl` row)."""

    id: str
    instruction: str
    raw_instances: str
    instance_metadata: dict[str, Any]
    instruction_metadata: dict[str, Any] | None
    most_similar: dict[str, float] | None
    avg_similarity_score: float | None
    is_classification: bool

    def to_row(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "raw_instances": self.raw_instances,
                "instance_metadata": self.instance_metadata, "instruction_metadata": self.instruction_metadata,
                "most_similar": self.most_similar, "avg_similarity_score": self.avg_similarity_score,
                "id": self.id, "is_classification": self.is_classification}
