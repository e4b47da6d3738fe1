"""The fixed texts every prompt is built from, wherever they come from: the project's own
demonstrations (`prompts/*.json`) or the original repository's templates (`upstream_copy`)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class PromptTexts:
    header: str  # step 1, the line before the numbered instructions
    header_classification: str
    classify_prefix: str  # step 2, up to and including the last "Task:"
    classify_question: str
    instances_output_first: str  # step 3, up to and including the last "Task:"
    instances_input_first: str


@lru_cache(maxsize=None)
def load_prompt_data(name: str) -> dict[str, Any]:
    text = resources.files("selfinstruct.generation.pipeline").joinpath("prompts", f"{name}.json").read_text("utf-8")
    return json.loads(text)


def _demos_prefix(header: str, demos: list[str]) -> str:
    return header + "\n\n" + "\n\n".join(demos) + "\n\nTask:"


@lru_cache(maxsize=None)
def project_texts(bootstrap: str = "bootstrap", classify: str = "classify",
                  output_first: str = "instances_output_first", input_first: str = "instances_input_first") -> PromptTexts:
    """The project's texts, from the named prompt files (layout: header, blank-line separated
    "Task: ..." demonstrations, the new task last, as in the paper)."""
    boot, clf = load_prompt_data(bootstrap), load_prompt_data(classify)
    q = clf["question"]
    inst = {name: load_prompt_data(name) for name in (output_first, input_first)}
    prefix = {name: _demos_prefix(d["header"], [f"Task: {x['task']}\n{x['body']}" for x in d["demos"]])
              for name, d in inst.items()}
    return PromptTexts(
        header=boot["header"], header_classification=boot["header_classification"],
        classify_prefix=_demos_prefix(clf["header"], [f"Task: {d['task']}\n{q} {d['answer']}" for d in clf["demos"]]),
        classify_question=q, instances_output_first=prefix[output_first], instances_input_first=prefix[input_first])
