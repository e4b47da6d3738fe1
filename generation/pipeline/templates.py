"""The few-shot prompts of the four steps, built from the data files in `prompts/`.

The demonstrations are data, not code, so they can be read, reviewed and replaced without
touching the pipeline. The layout (header, blank-line separated "Task: ..." demonstrations, the
new task last) is the paper's; completion models get this text as it is. Chat models get the
same text as the user message under a system message that asks them to continue it, because a
chat model otherwise answers the prompt instead of extending it (`frame`).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from ..lm.base import LMRequest, SamplingParams
from .profiles import DEFAULT

FRAMINGS = ("completion", "chat")
_WS = re.compile(r"\s+")


@lru_cache(maxsize=None)
def load_prompt_data(name: str) -> dict[str, Any]:
    text = resources.files("selfinstruct.generation.pipeline").joinpath("prompts", f"{name}.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1 << 17)  # the same pool instructions are shown in prompt after prompt
def clean_instruction(text: str) -> str:
    """How an instruction is shown in the bootstrap prompt: one line, no trailing colon."""
    return _WS.sub(" ", text).strip().rstrip(":")


def bootstrap_prompt(instructions: list[str], *, classification: bool = False) -> str:
    data = load_prompt_data("bootstrap")
    header = data["header_classification"] if classification else data["header"]
    lines = [header]
    for k, inst in enumerate(instructions, start=1):
        lines.append(f"{k}. {clean_instruction(inst)}")
    return "\n".join(lines) + f"\n{len(instructions) + 1}."


@lru_cache(maxsize=None)
def _classify_prefix() -> str:
    data = load_prompt_data("classify")
    demos = [f"Task: {d['task']}\n{data['question']} {d['answer']}" for d in data["demos"]]
    return data["header"] + "\n\n" + "\n\n".join(demos) + "\n\nTask:"


def classify_prompt(instruction: str) -> str:
    question = load_prompt_data("classify")["question"]
    return f"{_classify_prefix()} {instruction.strip()}\n{question}"


@lru_cache(maxsize=None)
def _instances_prefix(template: str) -> str:
    data = load_prompt_data(template)
    demos = [f"Task: {d['task']}\n{d['body']}" for d in data["demos"]]
    return data["header"] + "\n\n" + "\n\n".join(demos) + "\n\nTask:"


def instances_prompt(instruction: str, *, is_classification: bool, templates: dict[str, str] | None = None) -> str:
    """Output-first for classification tasks (so labels are not all the majority class),
    input-first otherwise; `templates` names the prompt file for each kind (the step spec's)."""
    names = templates or DEFAULT.spec("instances").template
    return f"{_instances_prefix(names['classification' if is_classification else 'generation'])} {instruction.strip()}\n"


def frame(step: str, prompt: str, params: SamplingParams, framing: str) -> LMRequest:
    """The request for one prompt: the text itself, or a conversation carrying it."""
    if framing == "completion":
        return LMRequest(prompt=prompt, params=params)
    if framing != "chat":
        raise ValueError(f"unknown framing {framing!r}")
    chat = load_prompt_data("chat")[step]
    messages = ({"role": "system", "content": chat["system"]},
                {"role": "user", "content": prompt + chat.get("user_suffix", "")})
    return LMRequest(messages=messages, params=params)


def request_prompt_record(req: LMRequest) -> str | list[dict]:
    """What requests.jsonl stores as `prompt`: the text, or the messages."""
    return req.prompt if req.prompt is not None else [dict(m) for m in req.messages or ()]
