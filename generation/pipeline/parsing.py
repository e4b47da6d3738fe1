"""Turning raw completions into candidates: pure functions over text, shared by every step,
both profiles, both framings, live runs and replays.

Each function returns what it kept *and* what it dropped with the rule that dropped it, so
`rejected.jsonl` can explain every decision and filters can be re-tuned offline.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..records import is_classification_answer as classification_answer
from .profiles import Profile

LENGTH = "length_truncated"
FAILED = "request_failed"


@dataclass(frozen=True)
class Dropped:
    candidate: object  # str or {"input", "output"}
    rule: str


# -- step 1 ------------------------------------------------------------------------------------
def clean_piece(piece: str, profile: Profile) -> str:
    text = re.sub(r"\s+", " ", piece).strip()
    if profile.lowercase_rest:
        return text.capitalize()  # upstream quirk 1: "Use SQL" -> "Use sql"
    return text[:1].upper() + text[1:]


def split_instructions(text: str, profile: Profile, *, chat: bool = False) -> list[str]:
    """The numbered list items in a completion that continues "... 8. <x>\\n9."."""
    if chat:
        text = _chat_list_text(text, profile)
    return [clean_piece(p, profile) for p in re.split(profile.split_pattern, text)]


def _chat_list_text(text: str, profile: Profile) -> str:
    """A chat reply restates the list markers ("9. Foo") and may open with a preamble line
    ("Here are more tasks:"); reshape it into what a completion model would have returned."""
    body = "\n" + text.strip()
    match = re.search(profile.split_pattern, body)
    if match is None:
        return text
    preamble = body[: match.start()].strip()
    if preamble.endswith(":") or preamble == "":
        return body[match.end():]  # drop the preamble and the first marker
    return body


def parse_instruction_response(
    text: str, finish_reason: str | None, profile: Profile, *, chat: bool = False
) -> tuple[list[str], list[Dropped]]:
    """Candidates of one bootstrap response, before the heuristic and similarity filters.

    Upstream drops a length-truncated response whole (quirk 2); the default profile drops only
    its last item, the one the limit cut.
    """
    if finish_reason == "error":
        return [], []
    pieces = split_instructions(text, profile, chat=chat)
    if finish_reason == "length":
        if profile.drop_truncated_response:
            return [], [Dropped(p, LENGTH) for p in pieces if p]
        return pieces[:-1], [Dropped(p, LENGTH) for p in pieces[-1:] if p]
    return pieces, []


# -- step 2 ------------------------------------------------------------------------------------
def is_classification_answer(answer: str, profile: Profile) -> bool:
    return classification_answer(answer, lenient=profile.lenient_yes)


# -- step 3/4 ----------------------------------------------------------------------------------
_EXAMPLE = re.compile(r"Example\s?\d*\.?")
_OUTPUT = re.compile(r"Output\s*\d*\s*:")
_INPUT = re.compile(r"Input\s*\d*\s*:")
_LEADING_INPUT = re.compile(r"^Input\s*\d*\s*:")


def parse_input_output(text: str) -> tuple[str, str]:
    """One example chunk: input before the first Output marker, output up to the next one."""
    if _OUTPUT.search(text):
        parts = _OUTPUT.split(text)
        inst_input, inst_output = parts[0].strip(), parts[1].strip()
    else:
        inst_input, inst_output = "", text.strip()
    if _INPUT.search(inst_output):  # the model went on to a second pair in the same chunk
        inst_output = _INPUT.split(inst_output)[0].strip()
    inst_input = _LEADING_INPUT.sub("", inst_input).strip()
    return inst_input, inst_output


def parse_generation_instances(raw: str) -> list[tuple[str, str]]:
    raw = raw.strip()
    if _EXAMPLE.search(raw):
        chunks = [c.strip() for c in _EXAMPLE.split(raw) if c.strip()]
        return [tuple(s.strip() for s in parse_input_output(c)) for c in chunks]
    if _OUTPUT.search(raw):
        i, o = parse_input_output(raw)
        return [(i.strip(), o.strip())]
    return []


def parse_classification_instances(raw: str) -> list[tuple[str, str]]:
    """Output-first text: each "Class label:" line is an output, the lines under it its input."""
    if "Class label:" not in raw:
        return []
    pairs = []
    for chunk in raw.split("Class label:")[1:]:
        fields = chunk.strip().split("\n", 1)
        label = fields[0].strip()
        inp = fields[1].strip() if len(fields) == 2 else ""
        pairs.append((inp, label))
    return pairs


def strip_chat_echo(raw: str, instruction: str) -> str:
    """Chat models often repeat "Task: <instruction>" before the examples; drop that line."""
    text = raw.lstrip()
    first, _, rest = text.partition("\n")
    if first.startswith("Task:") or first.strip() == instruction.strip():
        return rest
    return raw


def parse_instances(
    raw: str, finish_reason: str | None, is_classification: bool
) -> tuple[list[tuple[str, str]], list[Dropped]]:
    """Pairs from one instance response; a length-truncated response loses its last pair."""
    pairs = parse_classification_instances(raw) if is_classification else parse_generation_instances(raw)
    dropped: list[Dropped] = []
    if not pairs and raw.strip():
        dropped.append(Dropped(raw, "unparseable"))
    if finish_reason == "length" and pairs:
        dropped.append(Dropped(_pair(pairs[-1]), LENGTH))
        pairs = pairs[:-1]
    return pairs, dropped


def _pair(p: tuple[str, str]) -> dict:
    return {"input": p[0], "output": p[1]}
