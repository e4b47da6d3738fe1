"""Prompt encodings (the templates live in `prompt_formats.json`) and context-length fitting.

When a prompt is too long for the model, we cut the *instance input* and keep the definition
head and the "Output:" cue. Tk-Instruct's collator instead cuts the whole prompt from the end,
which can delete the cue and leave the model continuing the input; we deliberately differ so
that a long input costs the model some context, not the question. Demonstrations (tk-instruct)
are added, in order, only while the prompt still fits, as Tk-Instruct does.
"""
from __future__ import annotations

import json
import math
import string
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

from .data import Instance, Task

PROMPT_FORMATS_FILE = "prompt_formats.json"


@dataclass(frozen=True)
class PromptFormat:
    name: str
    description: str
    definition_prefix: str
    definition_suffix: str
    num_pos_examples: int
    example_header: str
    example_input_prefix: str
    example_output_prefix: str
    example_suffix: str
    input_header: str
    input_prefix: str
    input_suffix: str
    output_cue: str


@lru_cache(maxsize=None)
def prompt_formats() -> dict[str, PromptFormat]:
    raw = json.loads(resources.files(__package__).joinpath(PROMPT_FORMATS_FILE).read_text(encoding="utf-8"))
    names = {f.name for f in fields(PromptFormat)} - {"name"}
    return {key: PromptFormat(name=key, **{k: v for k, v in spec.items() if k in names})
            for key, spec in raw.items() if not key.startswith("_")}


def get_format(name: str) -> PromptFormat:
    formats = prompt_formats()
    if name not in formats:
        raise ValueError(f"unknown prompt format {name!r}; choose from {sorted(formats)}")
    return formats[name]


def terminate(text: str) -> str:
    """Add a full stop unless the text already ends in ASCII punctuation (Tk-Instruct's rule)."""
    return text if text and text[-1] in string.punctuation else text + "."


class TokenCounter(Protocol):
    """Counts prompt tokens the way the model will see them, and cuts text to a token count."""

    def count(self, text: str) -> int: ...

    def head(self, text: str, n_tokens: int) -> str: ...


class HFTokenCounter:
    """Counts with the model's own tokenizer, special tokens the model adds included."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        try:
            self._specials = int(tokenizer.num_special_tokens_to_add(pair=False))
        except Exception:  # noqa: BLE001 - tokenizers without the method add none we can know of
            self._specials = 0

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def count(self, text: str) -> int:
        return len(self._ids(text)) + self._specials

    def head(self, text: str, n_tokens: int) -> str:
        if n_tokens <= 0:
            return ""
        ids = self._ids(text)
        if len(ids) <= n_tokens:
            return text
        return self.tokenizer.decode(ids[:n_tokens], skip_special_tokens=True)


class CharTokenCounter:
    """Fallback for API models whose tokenizer we do not have: ~4 characters per token, or one
    per whitespace-separated word if that is more (a conservative estimate for both prose and
    code)."""

    def __init__(self, chars_per_token: float = 4.0) -> None:
        self.chars_per_token = chars_per_token

    def count(self, text: str) -> int:
        return max(math.ceil(len(text) / self.chars_per_token), len(text.split()))

    def head(self, text: str, n_tokens: int) -> str:
        if n_tokens <= 0:
            return ""
        if self.count(text) <= n_tokens:
            return text
        cut = text[: int(n_tokens * self.chars_per_token)]
        words = cut.split(" ")
        if len(cut) < len(text) and not text[len(cut)].isspace():
            words.pop()  # never end on half a word
        while words and self.count(" ".join(words)) > n_tokens:
            words.pop()
        return " ".join(words)


@dataclass(frozen=True)
class Prompt:
    id: str
    task: str
    text: str
    examples_used: int = 0
    truncated: bool = False


def _definition(task: Task, fmt: PromptFormat) -> str:
    return terminate(fmt.definition_prefix + task.definition.strip()) + fmt.definition_suffix


def _example(i: int, inp: str, out: str, fmt: PromptFormat) -> str:
    text = fmt.example_header.format(i=i) + terminate(fmt.example_input_prefix + inp.strip())
    return terminate(text + fmt.example_output_prefix + out.strip()) + fmt.example_suffix


def build_prompt(task: Task, instance: Instance, fmt: PromptFormat | str, *,
                 num_pos_examples: int | None = None, counter: TokenCounter | None = None,
                 max_tokens: int | None = None) -> Prompt:
    """Encode one instance. With `counter` and `max_tokens`, fit the prompt into that many tokens."""
    if isinstance(fmt, str):
        fmt = get_format(fmt)
    k = fmt.num_pos_examples if num_pos_examples is None else num_pos_examples
    budget = max_tokens if counter is not None else None
    definition = _definition(task, fmt)
    input_prefix = fmt.input_header + fmt.input_prefix
    body = terminate(fmt.input_prefix + instance.input.strip())[len(fmt.input_prefix):]
    tail = fmt.input_suffix + fmt.output_cue

    def render(examples: str, input_body: str) -> str:
        return definition + examples + input_prefix + input_body + tail

    examples = ""
    used = 0
    for i, ex in enumerate(task.positive_examples[:k], 1):
        candidate = examples + _example(i, ex.input, ex.output, fmt)
        if budget is not None and counter.count(render(candidate, body)) > budget:
            break
        examples, used = candidate, i
    text = render(examples, body)
    if budget is None or counter.count(text) <= budget:
        return Prompt(instance.id, task.name, text, used, False)
    return Prompt(instance.id, task.name, _fit(definition + examples, input_prefix, body, tail, counter, budget), used, True)


def _fit(head: str, input_prefix: str, body: str, tail: str, counter: TokenCounter, budget: int) -> str:
    """Cut the input body (then, if that is not enough, the head) so the prompt fits, keeping
    `tail` (the output cue) whole. Token counts are not additive across piece boundaries, so
    each guess is re-counted and shrunk by the overshoot until the whole prompt fits."""
    room = budget - counter.count(head + input_prefix + tail)
    if room > 0:
        n = room
        while True:
            cut = counter.head(body, n)
            over = counter.count(head + input_prefix + cut + tail) - budget
            if over <= 0 or n <= 0:
                return head + input_prefix + cut + tail
            n -= max(over, 1)
    # Not even the head fits: keep what we can of it, then the cue.
    n = budget - counter.count(input_prefix + tail)
    while True:
        cut_head = counter.head(head, n)
        over = counter.count(cut_head + input_prefix + tail) - budget
        if over <= 0 or n <= 0:
            return cut_head + input_prefix + tail
        n -= max(over, 1)


def build_prompts(tasks: list[Task], fmt: PromptFormat | str, **kw: Any) -> list[Prompt]:
    return [build_prompt(task, inst, fmt, **kw) for task in tasks for inst in task.instances]
