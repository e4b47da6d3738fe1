"""Run directories of the Unnatural Instructions and Evol-Instruct generators, written file by
file in the layout those methods leave behind (the shared files as in a Self-Instruct run, plus
`paraphrases.jsonl` or `lineage.jsonl`; no classification step, so `is_classification` is null
and there is no `is_clf_or_not_*` file).

Kept apart from conftest.py so the Self-Instruct fixtures there stay as they are.
"""
from __future__ import annotations

import json
from pathlib import Path

from .conftest import _write_jsonl

_TASKS = [
    ("Write a haiku about a rainy morning.", "", "Grey drops on the glass\nthe kettle starts to murmur\nstreetlights blink awake"),
    ("Convert the distance from miles to kilometres.", "26.2 miles", "42.2 kilometres"),
    ("Name the capital city of the given country.", "Kenya", "Nairobi"),
    ("Suggest a title for a blog post about saving money on groceries.", "", "Full Cart, Light Wallet"),
    ("Rewrite the sentence so that it sounds more formal.", "Gonna be late, sorry.",
     "I apologise; I will arrive late."),
    ("Count the vowels in the word.", "education", "5"),
    ("Explain why the sky looks blue during the day.", "",
     "Air scatters short blue wavelengths of sunlight more than red ones, so blue reaches us from every direction."),
    ("List three uses for an empty glass jar.", "", "A pencil holder, a herb planter, a candle lantern."),
    ("Give the antonym of the adjective.", "generous", "stingy"),
    ("Describe the smell of fresh bread in two sentences.", "",
     "Warm and yeasty, it fills the kitchen. A faint sweetness lingers from the crust."),
    ("Find the next number in the sequence.", "2, 4, 8, 16", "32"),
    ("Recommend a board game for a family with young children.", "", "Ticket to Ride: First Journey."),
]

# (source task, paraphrase) pairs; each paraphrase keeps its source's input and output
_PARAPHRASES = [
    (0, "Compose a haiku describing a wet morning."),
    (0, "Create a three-line haiku about a morning in the rain."),
    (1, "Express the given distance in kilometres instead of miles."),
    (2, "What is the capital of the country below?"),
    (4, "Make the following sentence more formal."),
    (6, "Why does the daytime sky appear blue?"),
    (8, "Provide the opposite of the given adjective."),
    (10, "Continue the sequence with its next number."),
]

# (parent: root index or earlier row, operation, instruction, output); epoch = parent's epoch + 1
_ROOTS = [
    "Give three tips for staying focused while studying.",
    "Write a limerick about a cat.",
    "Explain what a prime number is.",
    "Plan a one-day trip to a nearby city.",
    "Describe how to brew a cup of tea.",
    "Summarize the plot of a fairy tale.",
]
_EVOLUTIONS = [
    (("root", 0), "add_constraints", "Give three tips for staying focused while studying, each under ten words."),
    (("root", 1), "concretize", "Write a limerick about a ginger cat who steals fish from a market stall."),
    (("root", 2), "deepen", "Explain what a prime number is and why there are infinitely many of them."),
    (("root", 3), "breadth", "Plan a one-day cycling tour through vineyards near a small town."),
    (("root", 4), "increase_reasoning", "Describe how to brew tea, explaining why each step affects the taste."),
    (("root", 5), "complicate_input", "Summarize the plot of the fairy tale below in exactly two sentences."),
    (("row", 0), "increase_reasoning",
     "Give three tips for staying focused while studying, each under ten words, and justify the order."),
    (("row", 2), "add_constraints",
     "Explain what a prime number is and prove there are infinitely many, without using the word 'infinite'."),
    (("row", 6), "deepen",
     "Give three evidence-based tips for focused study, each under ten words, justify the order, cite the evidence."),
    (("row", 1), "breadth", "Write a limerick about a dog who is afraid of thunderstorms."),
]


def _manifest(method: str, kept: int) -> dict:
    return {
        "method": method, "profile": "default", "model": "gpt-4o-mini", "backend": "openai",
        "settings": {"model": "gpt-4o-mini", "num_instructions": kept, "max_tokens": 1024},
        "seed_tasks": {"path": "/nonexistent/seed_tasks.jsonl", "sha256": "cd" * 32, "count": 175},
        "random_seed": 3, "versions": {"python": "3.11", "selfinstruct": "0.1.0"},
        "counts": {method: {"kept": kept}}, "usage": {"prompt_tokens": 2000, "completion_tokens": 900},
        "cost_usd": 0.003, "status": "complete", "settings_hash": "feedc0de",
    }


def _write_shared(folder: Path, method: str, instructions: list[tuple[str, str]],
                  instances: list[dict]) -> None:
    """The files every method writes: kept instructions, instances, finetuning, rejections, manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_jsonl(folder / "machine_generated_instructions.jsonl", [
        {"instruction": text, "most_similar": None, "avg_similarity_score": None,
         "metadata": {"prompt": "...", "response": {"text": "..."}}, "request_idx": n, "id": iid}
        for n, (iid, text) in enumerate(instructions)])
    _write_jsonl(folder / "all_generated_instances.jsonl", instances)
    _write_jsonl(folder / "finetuning/finetuning_prompt_completion.jsonl", [
        {"prompt": r["instruction"] + (f"\nInput: {r['input']}\n\nOutput:" if r["input"] else "\nOutput:"),
         "completion": " " + r["output"] + "<|endoftext|>"} for r in instances])
    _write_jsonl(folder / "finetuning/finetuning_messages.jsonl", [
        {"messages": [{"role": "user", "content": r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")},
                      {"role": "assistant", "content": r["output"]}], "id": r["id"]} for r in instances])
    _write_jsonl(folder / "finetuning/finetuning_alpaca.jsonl", [
        {"instruction": r["instruction"], "input": r["input"], "output": r["output"], "id": r["id"]}
        for r in instances])
    _write_jsonl(folder / "rejected.jsonl", [{"step": method, "request_idx": 0, "candidate": "Draw a map.",
                                              "rule": "blocked_word"}])
    (folder / "manifest.json").write_text(json.dumps(_manifest(method, len(instructions)), indent=2),
                                          encoding="utf-8")


def _instance(text: str, inp: str, out: str, rid: str) -> dict:
    return {"instruction": text, "input": inp, "output": out, "id": rid, "is_classification": None}


def write_unnatural_run(folder: Path) -> Path:
    """12 core instructions and 8 paraphrases (20 instances); returns the folder."""
    core = [(f"instruction_{n}", text) for n, (text, _, _) in enumerate(_TASKS)]
    instances = [_instance(text, inp, out, f"instruction_{n}") for n, (text, inp, out) in enumerate(_TASKS)]
    paraphrases = []
    for n, (k, text) in enumerate(_PARAPHRASES):
        source, inp, out = _TASKS[k]
        paraphrases.append({"id": f"paraphrase_{n}", "source_id": f"instruction_{k}", "instruction": text,
                            "source_instruction": source, "input": inp, "output": out})
        instances.append(_instance(text, inp, out, f"paraphrase_{n}"))
    _write_shared(folder, "unnatural", core, instances)
    _write_jsonl(folder / "paraphrases.jsonl", paraphrases)
    return folder


def lineage_rows() -> list[dict]:
    """The lineage the Evol-Instruct fixture writes (10 evolutions of 6 roots over 3 epochs)."""
    rows: list[dict] = []
    for n, ((kind, ref), operation, text) in enumerate(_EVOLUTIONS):
        if kind == "root":
            parent_id = root_id = f"pool_{ref}"
            parent_text, epoch = _ROOTS[ref], 1
        else:
            parent = rows[ref]
            parent_id, root_id, parent_text, epoch = parent["id"], parent["root_id"], parent["instruction"], \
                parent["epoch"] + 1
        rows.append({"id": f"instruction_{n}", "parent_id": parent_id, "root_id": root_id, "operation": operation,
                     "epoch": epoch, "instruction": text, "parent_instruction": parent_text,
                     "output": f"Answer {n}: a careful response to the evolved task."})
    return rows


def write_evol_run(folder: Path) -> Path:
    """10 evolved instructions, one instance each, and their lineage; returns the folder."""
    rows = lineage_rows()
    _write_shared(folder, "evol", [(r["id"], r["instruction"]) for r in rows],
                  [_instance(r["instruction"], "", r["output"], r["id"]) for r in rows])
    _write_jsonl(folder / "lineage.jsonl", rows)
    return folder
