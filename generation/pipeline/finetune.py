"""Step 4's second half: kept instances -> finetuning data in three formats.

The paper's GPT-3 prompt/completion form varies the prompt template at random (and half the
time strips a lone "field:" name from the input) so the finetuned model does not overfit one
layout. Chat `messages` and Alpaca-style records are the formats trainers use today; they keep
the instance as it is, because chat templates already provide the layout.
"""
from __future__ import annotations

import random
import re

from ..records import TrainingInstance, user_content
from .templates import load_prompt_data


def strip_field_name(inp: str) -> str:
    """'Sentence: foo' -> 'foo' when the input names exactly one field; blank lines collapsed."""
    colon_words = re.findall(r"(\w+):", inp)
    if len(set(colon_words)) == 1:
        inp = inp.split(":", 1)[1].strip()
    else:
        inp = inp.strip()
    return inp.replace("\n\n", "\n")


def encode(instruction: str, inp: str, out: str, rng: random.Random, template: str = "finetune_templates") -> tuple[str, str]:
    templates = load_prompt_data(template)
    if inp.strip() != "":
        prompt_t, completion_t = rng.choice(templates["with_input"])
        prompt = prompt_t.format(instruction=instruction.strip(), input=inp.strip())
    else:
        prompt_t, completion_t = rng.choice(templates["without_input"])
        prompt = prompt_t.format(instruction=instruction.strip())
    return prompt, completion_t.format(output=out.strip())


def prompt_completion_records(instances: list[TrainingInstance], rng: random.Random,
                              template: str = "finetune_templates") -> list[dict]:
    """Upstream's order of random draws: per instance one random() (and the template choice),
    then dedup on (prompt, completion), then one shuffle."""
    encoded = []
    for inst in instances:
        inp = inst.input
        if rng.random() < 0.5:
            inp = strip_field_name(inp)
        encoded.append(encode(inst.instruction, inp, inst.output, rng, template))
    unique = list(dict.fromkeys(encoded))
    rng.shuffle(unique)
    return [{"prompt": p, "completion": c} for p, c in unique]


def unique_instances(instances: list[TrainingInstance]) -> list[TrainingInstance]:
    """Stripped instances in first-occurrence order, exact duplicates removed."""
    out, seen = [], set()
    for inst in instances:
        clean = TrainingInstance(inst.id, inst.instruction.strip(), inst.input.strip(), inst.output.strip())
        key = (clean.instruction, clean.input, clean.output)
        if key not in seen:
            seen.add(key)
            out.append(clean)
    return out


def messages_records(instances: list[TrainingInstance]) -> list[dict]:
    return [{"messages": [{"role": "user", "content": user_content(i.instruction, i.input)},
                          {"role": "assistant", "content": i.output}], "id": i.id}
            for i in unique_instances(instances)]


def alpaca_records(instances: list[TrainingInstance]) -> list[dict]:
    return [{"instruction": i.instruction, "input": i.input, "output": i.output, "id": i.id}
            for i in unique_instances(instances)]
