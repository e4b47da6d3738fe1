"""A rule-based stand-in for a model answering the family methods' prompts (a test double).

Every answer is a function of the prompt alone (hashed), so a run, its resume and its replay
see the same answers whatever order requests arrive in; a fixed share of answers trips each
filter the methods have, so the tests can watch every rule fire.
"""
from __future__ import annotations

import hashlib

TOPICS = ["rivers", "invoices", "poems", "sensors", "recipes", "planets", "contracts", "violins", "glaciers",
          "compilers", "markets", "bridges", "orchids", "satellites", "novels", "tariffs", "volcanoes", "chess"]
VERBS = ["Summarize", "Classify", "Explain", "Rank", "Compare", "Translate", "Critique", "List"]


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _text(body: dict) -> str:
    if "prompt" in body:
        return body["prompt"] if isinstance(body["prompt"], str) else body["prompt"][0]
    return body["messages"][-1]["content"]


def respond(body: dict) -> str:
    prompt = _text(body)
    h = _h(prompt)
    if "Write one more example" in prompt:  # unnatural core
        if h % 7 == 0:
            return " something that is not an example at all"
        if h % 7 == 1:
            return " Summarize the rivers note.\nInput: A note.\nConstraints: One line."  # the same every time
        verb, topic = VERBS[h % len(VERBS)], TOPICS[(h >> 8) % len(TOPICS)]
        return (f" {verb} the {topic} described below in case {h % 1000}.\nInput: Some text about {topic} {h % 97}."
                f"\nConstraints: At most {h % 5 + 1} sentences.")
    if prompt.startswith("Instruction:") and prompt.rstrip().endswith("Output:"):  # unnatural output
        return "" if h % 6 == 0 else f" The answer {h % 10000}."
    if "Rewrite each instruction in" in prompt:  # unnatural paraphrase
        source = prompt.rsplit("Instruction: ", 1)[1].split("\n", 1)[0]
        if h % 5 == 0:
            return f" {source}\n2. Please {source.lower()}"  # the first rewrite copies its source
        return f" Please {source.lower()}\n2. Kindly {source.lower()}"
    if "Harder version:" in prompt or "New task:" in prompt:  # evol evolve
        task = prompt.split("Task:\n", 1)[1].rsplit("\n\n", 1)[0]
        kind = h % 9
        if kind == 0:
            return " " + task  # unchanged
        if kind == 1:
            return " Harder version: " + task + " Twice."  # copies the scaffold
        return f" {task} Also consider case {h % 1000}."
    if "Answer Yes or No." in prompt:  # evol compare
        return " No" if h % 8 == 0 else " Yes"
    if prompt.rstrip().endswith("Response:"):  # evol answer
        if h % 10 == 0:
            return " Sorry, I cannot help with that."
        if h % 10 == 1:
            return " It is, of the."
        return f" A careful answer number {h % 10000} with details."
    return " unrecognised prompt"
