"""What both family methods keep alike: the near-duplicate and exact-copy gate on their
instructions, and the files every run directory has (instances, finetuning formats,
rejections), so the dataset builder reads a run of any method the same way."""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ...exact_dups import RULE as EXACT_RULE
from ...exact_dups import ExactDuplicates
from ...records import Instance, Rejection, TrainingInstance
from ...rundir import RunPaths
from .. import finetune as formats
from .settings import MethodSettings

_NAMES = RunPaths(Path("."))


@dataclass
class Gate:
    """Exact copies always, ROUGE-L near duplicates with --dedup rouge-l: the rule that rejects
    a new instruction, or None to keep it (and remember it)."""

    settings: MethodSettings
    pool: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.exact = ExactDuplicates(self.pool)
        self.index = None
        if self.settings.dedup == "rouge-l":
            from ...similarity import RougeLIndex

            self.index = RougeLIndex(self.pool, threshold=self.settings.threshold)

    def judge(self, text: str, key: str | None = None) -> tuple[str | None, float | None]:
        """(rule, score): `key` (default: the text) decides exact copies, the text near ones."""
        if self.exact.first(key or text) is not None:
            return EXACT_RULE, None
        if self.index is not None:
            d = self.index.admit(text)
            if not d.kept:
                return "rouge_l", d.score
        self.exact.add(key or text)
        return None, None


@dataclass
class Outcome:
    """Rows and rejections as the method decided them, in decision order."""

    instances: list[Instance] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    rules: Counter = field(default_factory=Counter)

    def reject(self, step: str, request_idx: int | None, candidate, rule: str, score: float | None = None,
               instruction: str | None = None) -> None:
        self.rules[f"{step}:{rule}"] += 1
        self.rejected.append(Rejection(step, request_idx, candidate, rule, score, instruction=instruction))


def run_files(outcome: Outcome, kept_rows: list[dict], finetune_seed: int) -> dict[str, list[dict]]:
    """The files every run directory has, from the method's kept rows and instances."""
    training = [TrainingInstance(i.id, i.instruction, i.input, i.output) for i in outcome.instances]
    rng = random.Random(f"selfinstruct:{finetune_seed}:finetune")
    prompt_completion = formats.prompt_completion_records(training, rng)
    return {
        _NAMES.instructions.name: kept_rows,
        _NAMES.all_instances.name: [i.to_row() for i in outcome.instances],
        _NAMES.rejected.name: [r.to_row() for r in outcome.rejected],
        f"{_NAMES.finetuning.name}/finetuning_prompt_completion.jsonl": prompt_completion,
        f"{_NAMES.finetuning.name}/finetuning_messages.jsonl": formats.messages_records(training),
        f"{_NAMES.finetuning.name}/finetuning_alpaca.jsonl": formats.alpaca_records(training),
    }
