"""The few-shot prompts of the four steps, built from the data files in `prompts/`.

The demonstrations are data, not code, so they can be read, reviewed and replaced without
touching the pipeline. The layout (header, blank-line separated "Task: ..." demonstrations, the
new task last) is the paper's; completion models get this text as it is. Chat models get the
same text as the user message under a system message that asks them to continue it, because a
chat model otherwise answers the prompt instead of extending it (`frame`).
"""
from __future__ import annotations

import re
from functools import lru_cache

from ..lm.base import LMRequest, SamplingParams
from .prompt_texts import PromptTexts, load_prompt_data, project_texts

FRAMINGS = ("completion", "chat")
_WS = re.compile(r"\s+")


@lru_cache(maxsize=1 << 17)  # the same pool instructions are shown in prompt after prompt
def clean_instruction(text: str) -> str:
    """How an instruction is shown in the bootstrap prompt: one line, no trailing colon."""
    return _WS.sub(" ", text).strip().rstrip(":")


def bootstrap_prompt(instructions: list[str], *, classification: bool = False, texts: PromptTexts | None = None) -> str:
    t = texts or project_texts()
    lines = [t.header_classification if classification else t.header]
    for k, inst in enumerate(instructions, start=1):
        lines.append(f"{k}. {clean_instruction(inst)}")
    return "\n".join(lines) + f"\n{len(instructions) + 1}."


def classify_prompt(instruction: str, texts: PromptTexts | None = None) -> str:
    t = texts or project_texts()
    return f"{t.classify_prefix} {instruction.strip()}\n{t.classify_question}"


def instances_prompt(instruction: str, *, is_classification: bool, texts: PromptTexts | None = None) -> str:
    """Output-first for classification tasks (so labels are not all the majority class),
    input-first otherwise."""
    t = texts or project_texts()
    prefix = t.instances_output_first if is_classification else t.instances_input_first
    return f"{prefix} {instruction.strip()}\n"


def frame(step: str, prompt: str, params: SamplingParams, framing: str, chat: dict | None = None) -> LMRequest:
    """The request for one prompt: the text itself, or a conversation carrying it (under the
    step's system message from `prompts/chat.json`, or the `chat` given)."""
    if framing == "completion":
        return LMRequest(prompt=prompt, params=params)
    if framing != "chat":
        raise ValueError(f"unknown framing {framing!r}")
    chat = chat if chat is not None else load_prompt_data("chat")[step]
    messages = ({"role": "system", "content": chat["system"]},
                {"role": "user", "content": prompt + chat.get("user_suffix", "")})
    return LMRequest(messages=messages, params=params)


def request_prompt_record(req: LMRequest) -> str | list[dict]:
    """What requests.jsonl stores as `prompt`: the text, or the messages."""
    return req.prompt if req.prompt is not None else [dict(m) for m in req.messages or ()]
