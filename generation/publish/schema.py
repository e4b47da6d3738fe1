"""Every dataset config in one table: name, version, description, source, and explicit features.

The builder, the card's schema section and the folder layout all read this table, so a field
added here appears everywhere at once. Features are explicit (never inferred) because a column
that is all-null in one run (say, `is_classification` in a folder without labels) must still
have the same type as in every other run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

UPSTREAM_BASE_URL = "https://raw.githubusercontent.com/yizhongw/self-instruct/main/"
UPSTREAM_BASE_URL_ENV = "SELFINSTRUCT_UPSTREAM_BASE_URL"


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    version: str
    description: str
    source: str  # "run" | "seeds" | "upstream"
    columns: dict[str, str]  # column -> human description (the card's schema table)
    upstream_files: dict[str, str] = field(default_factory=dict)  # split -> path under the base URL
    splittable: bool = False  # accepts validation_size
    method: str | None = None  # the one generation method whose runs have this config (None: every method)


_PROMPT_COMPLETION = {
    "prompt": "the model input, instruction and input already laid out by a finetuning template",
    "completion": "the target text (starts with a space or newline, ends with `<|endoftext|>`)",
}
_INSTANCE_LIST = "list of {input, output}; input may be empty"

CONFIGS: dict[str, ConfigSpec] = {
    c.name: c
    for c in [
        ConfigSpec(
            "instances", "1.0.0",
            "One row per kept instance: the generated instruction with one input/output pair.",
            "run",
            {
                "instruction_id": "id of the instruction (`instruction_<n>` in acceptance order; "
                                  "`instruction_sha256_<hex>` for folders written by the original scripts)",
                "instruction": "the machine-generated task instruction",
                "input": "the instance input (empty when the task needs none)",
                "output": "the instance output",
                "is_classification": "whether the model judged the task a classification task (null if unknown)",
            },
            splittable=True,
        ),
        ConfigSpec(
            "instructions", "1.0.0",
            "One row per kept instruction, with its nearest neighbours in the pool when it was accepted.",
            "run",
            {
                "id": "instruction id, as in `instances.instruction_id`",
                "instruction": "the machine-generated task instruction",
                "is_classification": "classification label from step 2 (null if the step has not run)",
                "most_similar": "list of {instruction, score}: the 10 most ROUGE-L-similar pool "
                                "instructions at acceptance time, descending",
                "avg_similarity_score": "mean ROUGE-L against the whole pool at acceptance time",
            },
            splittable=True,
        ),
        ConfigSpec(
            "finetuning", "1.0.0",
            "Prompt/completion pairs exactly as the run wrote them for finetuning.",
            "run", dict(_PROMPT_COMPLETION), splittable=True,
        ),
        ConfigSpec(
            "messages", "1.0.0",
            "The finetuning examples as chat messages (one user turn, one assistant turn).",
            "run",
            {
                "id": "id of the instruction the example was made from",
                "messages": "list of {role, content}: the user turn then the assistant turn",
            },
            splittable=True,
        ),
        # The method configs split like the others, by instruction hash, but a paraphrase is
        # hashed by the instruction it rephrases and an evolved instruction by its lineage's root
        # (records.split_groups): near-copies of one task never straddle train and validation.
        ConfigSpec(
            "paraphrases", "1.0.0",
            "Unnatural Instructions only: one row per kept paraphrase, with the instruction it rephrases "
            "and the instance it was answered with.",
            "run",
            {
                "id": "`paraphrase_<n>`, also the paraphrase's `instances.instruction_id`",
                "source_id": "id of the rephrased instruction (`instruction_<k>`)",
                "instruction": "the paraphrased instruction",
                "source_instruction": "the instruction it rephrases",
                "input": "the instance input (empty when the task needs none)",
                "output": "the instance output",
            },
            splittable=True, method="unnatural",
        ),
        ConfigSpec(
            "lineage", "1.0.0",
            "Evol-Instruct only: one row per evolved instruction, with the instruction it was evolved "
            "from and how.",
            "run",
            {
                "id": "id of the evolved instruction (`instruction_<n>`)",
                "parent_id": "id of the instruction it was evolved from (a pool id in the first epoch)",
                "root_id": "id of the pool instruction its lineage starts from (`seed_task_<n>`, `pool_<n>`)",
                "operation": "the evolution applied: `add_constraints`, `deepen`, `concretize`, "
                             "`increase_reasoning`, `complicate_input` (in depth) or `breadth`",
                "epoch": "the evolution round that made it, from 1",
                "instruction": "the evolved instruction",
                "parent_instruction": "the instruction it was evolved from",
                "output": "the model's answer to the evolved instruction",
            },
            splittable=True, method="evol",
        ),
        ConfigSpec(
            "seed_tasks", "1.0.0",
            "The human-written seed tasks the generation starts from.",
            "seeds",
            {
                "id": "`seed_task_<n>`",
                "name": "snake_case slug of the task",
                "instruction": "the task instruction",
                "instances": _INSTANCE_LIST,
                "is_classification": "whether the task is a classification task",
            },
            splittable=True,
        ),
        ConfigSpec(
            "upstream_self_instruct", "1.0.0",
            "The paper's released Self-Instruct finetuning data (GPT-3 davinci generations, 82K rows).",
            "upstream", dict(_PROMPT_COMPLETION),
            upstream_files={"train": "data/finetuning/self_instruct_221203/gpt3_finetuning_data.jsonl"},
        ),
        ConfigSpec(
            "upstream_human_eval", "1.0.0",
            "The paper's 252 user-oriented evaluation tasks. Never train on them.",
            "upstream",
            {
                "id": "`user_oriented_task_<n>`",
                "motivation_app": "the application that motivated the task",
                "instruction": "the task instruction",
                "instances": _INSTANCE_LIST,
            },
            upstream_files={"train": "human_eval/user_oriented_instructions.jsonl"},
        ),
        ConfigSpec(
            "upstream_super_natural_instructions", "1.0.0",
            "The SuperNI prompt/completion data the paper used as a baseline (50K train, test set).",
            "upstream", dict(_PROMPT_COMPLETION),
            upstream_files={
                "train": "data/finetuning/superni_50k/superni_training_set_50k.jsonl",
                "test": "data/finetuning/superni_50k/superni_test_set.jsonl",
            },
        ),
        ConfigSpec(
            "upstream_p3", "1.0.0",
            "The T0/PromptSource (P3) prompt/completion data the paper used as a baseline (50K rows).",
            "upstream", dict(_PROMPT_COMPLETION),
            upstream_files={"train": "data/finetuning/t0_train_50k/t0_train_50k.jsonl"},
        ),
    ]
}

RUN_CONFIGS = [c for c in CONFIGS.values() if c.source == "run"]


def features(name: str):
    """The `datasets.Features` of a config (imported lazily: `datasets` is slow to import)."""
    import datasets as ds

    string, boolean, f64, i32 = ds.Value("string"), ds.Value("bool"), ds.Value("float64"), ds.Value("int32")
    pair = {"input": string, "output": string}
    prompt_completion = {"prompt": string, "completion": string}
    table = {
        "instances": {"instruction_id": string, "instruction": string, "input": string, "output": string,
                      "is_classification": boolean},
        "instructions": {"id": string, "instruction": string, "is_classification": boolean,
                         "most_similar": ds.List({"instruction": string, "score": f64}),
                         "avg_similarity_score": f64},
        "finetuning": prompt_completion,
        "messages": {"id": string, "messages": ds.List({"role": string, "content": string})},
        "paraphrases": {"id": string, "source_id": string, "instruction": string, "source_instruction": string,
                        "input": string, "output": string},
        "lineage": {"id": string, "parent_id": string, "root_id": string, "operation": string, "epoch": i32,
                    "instruction": string, "parent_instruction": string, "output": string},
        "seed_tasks": {"id": string, "name": string, "instruction": string, "instances": ds.List(pair),
                       "is_classification": boolean},
        "upstream_self_instruct": prompt_completion,
        "upstream_human_eval": {"id": string, "motivation_app": string, "instruction": string,
                                "instances": ds.List(pair)},
        "upstream_super_natural_instructions": prompt_completion,
        "upstream_p3": prompt_completion,
    }
    return ds.Features(table[name])
