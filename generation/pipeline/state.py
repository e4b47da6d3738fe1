"""A run's state as the steps share it: the request log's index, the similarity pool and what
step 1 has kept and rejected so far.

The state is rebuilt from the request log on every start and changed only by the steps'
`apply` functions, in prompt order, so the same log always yields the same state. Nothing here
reads or writes a file.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..records import KeptInstruction, Rejection
from .filters import InstructionFilter
from .log import RequestIndex


@dataclass
class RunState:
    log: RequestIndex
    filter: InstructionFilter  # seeds plus every kept instruction, for the near-duplicate test
    seed_instructions: list[str]
    machine: list[str] = field(default_factory=list)  # kept instructions, the prompts' machine pool
    kept: list[KeptInstruction] = field(default_factory=list)
    boot_rejected: list[Rejection] = field(default_factory=list)
    rule_counts: Counter = field(default_factory=Counter)
    candidates: int = 0
    next_round: int = 0
    round_base: int = 0  # requests sent in the rounds before next_round
    pool_marks: list[int] = field(default_factory=list)  # len(machine) after each round

    def positions(self) -> dict[str, int]:
        return {k.instruction: i for i, k in enumerate(self.kept)}
