"""Which instructions go into each bootstrap prompt, and where the randomness comes from.

Upstream seeds one generator per process, so its prompts depend on everything the process did
before. The default profile derives a fresh generator from (seed, round), so a round's prompts
depend only on the pool at that point: a resumed run needs no saved RNG state, and a run cut at
any moment continues exactly as if it had not been.
"""
from __future__ import annotations

import random


def sample_prompt_instructions(
    rng: random.Random, seed_instructions: list[str], machine_instructions: list[str],
    *, num_prompt: int = 8, num_machine: int = 2,
) -> list[str]:
    """Up to `num_machine` machine instructions plus seeds to make `num_prompt`, shuffled
    together (the draws happen in upstream's order, so the same seed gives the same prompts)."""
    chosen = rng.sample(machine_instructions, min(num_machine, len(machine_instructions)))
    chosen += rng.sample(seed_instructions, num_prompt - len(chosen))
    rng.shuffle(chosen)
    return chosen


def round_rng(seed: int, round_index: int) -> random.Random:
    return random.Random(f"selfinstruct:{seed}:bootstrap:{round_index}")


def task_rng(seed: int, key: str) -> random.Random:
    """Per-task generator for the instance cap (default profile): independent of other tasks."""
    return random.Random(f"selfinstruct:{seed}:instances:{key}")


def request_seed(seed: int, request_idx: int) -> int:
    """A per-request sampling seed for backends that honour one (reproducible sampling)."""
    return random.Random(f"selfinstruct:{seed}:request:{request_idx}").randrange(2**31)
