"""The data-quality judge as data: its questions, prompt, sampling and how a reply is read.

A judge is a YAML file beside `judges/default.yaml` (read with the same layered reader as the
user-oriented judges, so `base:` works the same). Parsing is strict: the reply must be exactly
one line per question, numbered in order, each answered "yes" or "no". Anything else is asked
again with the reminder and, after the retries, recorded unanswered: guessing an answer from
free text would hide the very failures this evaluation is meant to count.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.lm.base import SamplingParams
from selfinstruct.generation.specfile import read_layered_spec

_PACKAGE = "selfinstruct.evaluation.data_quality"
_LINE = re.compile(r"(\d+)\s*[.)]\s*(yes|no)\s*[.!]?", re.IGNORECASE)
_PROMPT_FIELDS = ("system", "user", "reminder", "no_input")
ANSWERS = ("yes", "no")


@dataclass(frozen=True)
class Question:
    key: str  # the answer's field name in ratings and summaries
    short: str  # a table heading
    text: str  # what the judge and the human raters are asked


@dataclass(frozen=True)
class DataQualitySpec:
    name: str
    version: str
    questions: tuple[Question, ...]
    prompt: dict[str, str]
    max_tokens: int
    temperature: float
    answer_retries: int
    source: str

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(q.key for q in self.questions)

    def params(self, *, max_tokens: int | None = None, temperature: float | None = None) -> SamplingParams:
        return SamplingParams(max_tokens=self.max_tokens if max_tokens is None else max_tokens,
                              temperature=self.temperature if temperature is None else temperature)

    def messages(self, instruction: str, inp: str, output: str) -> list[dict]:
        p = self.prompt
        questions = "\n".join(f"{n}. {q.text}" for n, q in enumerate(self.questions, 1))
        form = "\n".join(f"{n}. yes" if n % 2 else f"{n}. no" for n in range(1, len(self.questions) + 1))
        user = p["user"].format(instruction=instruction, input=inp.strip() or p["no_input"], output=output,
                                questions=questions, count=len(self.questions), form=form)
        return [{"role": "system", "content": p["system"]}, {"role": "user", "content": user}]

    def parse(self, text: str) -> dict[str, str] | None:
        """{question key: "yes"/"no"}, or None unless every line is `N. yes|no` in order."""
        lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
        if len(lines) != len(self.questions):
            return None
        answers = {}
        for n, (line, q) in enumerate(zip(lines, self.questions), 1):
            m = _LINE.fullmatch(line)
            if m is None or int(m.group(1)) != n:
                return None
            answers[q.key] = m.group(2).lower()
        return answers

    def public_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "questions": [q.__dict__ for q in self.questions],
                "max_tokens": self.max_tokens, "temperature": self.temperature,
                "answer_retries": self.answer_retries}


def _need(value: Any, kind: type, source: str, field: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InputError(f"must be {kind.__name__}, not {value!r}", file=source, field=field)
    return value


@lru_cache(maxsize=None)
def load_spec(name_or_path: str = "default") -> DataQualitySpec:
    """A packaged judge by name or a YAML file; one-line errors name the file and field."""
    data, source = read_layered_spec(str(name_or_path), _PACKAGE, "judges", what="data-quality judge",
                                     flag="--judge-config")
    raw_questions = _need(data.get("questions"), list, source, "questions")
    questions = []
    for i, q in enumerate(raw_questions):
        where = f"questions[{i}]"
        _need(q, dict, source, where)
        questions.append(Question(*(_need(q.get(k), str, source, f"{where}.{k}") for k in ("key", "short", "text"))))
    keys = [q.key for q in questions]
    if not questions or len(set(keys)) != len(keys):
        raise InputError("needs at least one question, each with its own key", file=source, field="questions")
    prompt = _need(data.get("prompt"), dict, source, "prompt")
    missing = [f for f in _PROMPT_FIELDS if not isinstance(prompt.get(f), str)]
    if missing:
        raise InputError(f"the prompt lacks {', '.join(missing)}", file=source, field="prompt")
    sampling = data.get("sampling") or {}
    return DataQualitySpec(
        name=_need(data.get("name"), str, source, "name"), version=_need(data.get("version"), str, source, "version"),
        questions=tuple(questions), prompt={k: str(v) for k, v in prompt.items()},
        max_tokens=int(_need(sampling.get("max_tokens"), int, source, "sampling.max_tokens")),
        temperature=float(sampling.get("temperature", 0.0)),
        answer_retries=int(_need(data.get("answer_retries"), int, source, "answer_retries")), source=source)
