"""Judges as data: what a judge sends, how it samples and how its reply is read, in one file.

In the spirit of alpaca_eval's evaluator configs: a new judge (another wording, a cheaper reply,
a different scale) is a new YAML file beside `judges/default.yaml`, never a branch in code. The
spec's version is recorded with the ratings it produced, so ratings from different judges are
never silently pooled.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.lm.base import SamplingParams
from selfinstruct.generation.specfile import packaged_names, read_layered_spec

_PACKAGE = "selfinstruct.evaluation.user_oriented"
_VERDICT_AT_END = re.compile(r"\[\[([ABCD])\]\]\s*\Z")
_ANY_BRACKETS = re.compile(r"\[\[.*?\]\]", re.S)
_PROMPT_FIELDS = ("system", "user", "reminder", "no_input", "empty_response", "truncated")


def parse_bracket_verdict(text: str) -> tuple[str | None, str]:
    """(grade, explanation). The grade is None unless the reply ends with one of [[A]]..[[D]]
    and contains no other double-bracketed text: a guessed grade would hide exactly the failures
    an agreement study is meant to expose."""
    stripped = (text or "").strip()
    match = _VERDICT_AT_END.search(stripped)
    if match is None or len(_ANY_BRACKETS.findall(stripped)) != 1:
        return None, stripped
    return match.group(1), stripped[: match.start()].strip()


PARSERS: dict[str, Callable[[str], tuple[str | None, str]]] = {"bracket_verdict": parse_bracket_verdict}


@dataclass(frozen=True)
class JudgeSpec:
    name: str
    version: str
    prompt: dict[str, str]  # system, user, reminder and the placeholders for odd responses
    rubric: dict[str, str]  # grade -> its description, best first
    parser: str
    max_tokens: int
    temperature: float
    top_p: float
    verdict_retries: int
    max_response_chars: int | None
    source: str

    def parse(self, text: str) -> tuple[str | None, str]:
        return PARSERS[self.parser](text)

    def params(self, *, max_tokens: int | None = None, temperature: float | None = None) -> SamplingParams:
        """The spec's sampling settings, with the command line's where it gave one."""
        return SamplingParams(max_tokens=self.max_tokens if max_tokens is None else max_tokens,
                              temperature=self.temperature if temperature is None else temperature,
                              top_p=self.top_p)

    def public_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "parser": self.parser, "max_tokens": self.max_tokens,
                "temperature": self.temperature, "verdict_retries": self.verdict_retries,
                "max_response_chars": self.max_response_chars}


@lru_cache(maxsize=None)
def packaged_data(name: str) -> dict:
    return json.loads(resources.files(f"{_PACKAGE}.data").joinpath(name).read_text("utf-8"))


def judge_names() -> list[str]:
    return packaged_names(_PACKAGE, "judges")


def _raw(name_or_path: str) -> tuple[dict[str, Any], str]:
    return read_layered_spec(name_or_path, _PACKAGE, "judges", what="judge", flag="--judge-config")


def _field(data: dict[str, Any], key: str, kind: type, source: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise InputError(f"must be {kind.__name__}, not {value!r}", file=source, field=key)
    return value


@lru_cache(maxsize=None)
def load_judge_spec(name_or_path: str = "default") -> JudgeSpec:
    """A packaged judge by name, or a user's YAML file; one-line errors name the file and field."""
    data, source = _raw(str(name_or_path))
    template = data.get("template")
    prompt = dict(packaged_data(template)) if isinstance(template, str) else {}
    prompt.update(data.get("prompt") or {})
    missing = [f for f in _PROMPT_FIELDS if not isinstance(prompt.get(f), str)]
    if missing:
        raise InputError(f"the prompt lacks {', '.join(missing)}", file=source, field="prompt")
    rubric = data.get("rubric")
    grades = packaged_data(rubric)["grades"] if isinstance(rubric, str) else rubric
    if not isinstance(grades, dict) or not grades:
        raise InputError("must name a rubric file or give the grades", file=source, field="rubric")
    parser = _field(data, "parser", str, source)
    if parser not in PARSERS:
        raise InputError(f"unknown parser {parser!r} (known: {', '.join(PARSERS)})", file=source, field="parser")
    sampling = data.get("sampling") or {}
    chars = data.get("max_response_chars")
    return JudgeSpec(
        name=_field(data, "name", str, source), version=_field(data, "version", str, source), prompt=prompt,
        rubric={str(k): str(v) for k, v in grades.items()}, parser=parser,
        max_tokens=int(_field(sampling, "max_tokens", int, source)),
        temperature=float(sampling.get("temperature", 0.0)), top_p=float(sampling.get("top_p", 1.0)),
        verdict_retries=int(_field(data, "verdict_retries", int, source)),
        max_response_chars=None if chars is None else int(chars), source=source)
