"""A deterministic stand-in for a Self-Instruct model, for `LocalServer(responder=...)`.

Tests, benchmarks and the docs' examples need a server whose answers look like a real model's
on these prompts (numbered task lists, Yes/No, examples in the demonstrated format), including
the awkward cases the filters exist for: too-short items, blocked words, near-copies of the
prompt's own instructions, "16.5", "10.Foo", classification outputs with conflicting labels.
Answers depend only on the prompt text, so a run against it is reproducible. It is a protocol
double, not a model: nothing it writes is meant to be read.
"""
from __future__ import annotations

import hashlib
import random
import re

_VERBS = ("Write", "Explain", "Describe", "Summarize", "List", "Suggest", "Compare", "Rewrite", "Translate",
          "Classify", "Identify", "Generate", "Create", "Design", "Evaluate", "Outline", "Find", "Convert",
          "Recommend", "Analyze", "Predict", "Plan", "Rank", "Estimate", "Propose", "Detect", "Correct")
_OBJECTS = ("a short story", "three reasons", "a recipe", "a polite email", "the main argument", "a haiku",
            "a workout routine", "a travel itinerary", "the sentiment", "a product review", "a riddle",
            "a slogan", "two arguments", "a dialogue", "a lesson plan", "the key facts", "a budget", "a tweet",
            "a cover letter", "a checklist", "the tone", "a headline", "an analogy", "a joke", "a quiz question")
_TOPICS = ("climate change", "medieval castles", "quantum computing", "urban gardening", "jazz history",
           "ocean tides", "remote work", "ancient Rome", "electric cars", "honey bees", "chess openings",
           "volcanoes", "public libraries", "sleep hygiene", "space tourism", "fermented foods", "bird migration",
           "board games", "solar panels", "marathon training", "coral reefs", "coffee roasting", "sign language",
           "desert plants", "renaissance art", "the stock market", "glaciers", "street food", "robotics clubs",
           "mountain rescue", "paper making", "tea ceremonies", "wind farms", "the printing press",
           "the Amazon rainforest", "Mount Everest", "NASA missions", "the Roman Empire", "SQL databases")
_AUDIENCES = ("for a child", "for a beginner", "for a busy parent", "in one paragraph", "in plain language",
              "for a job interview", "for a school newsletter", "using only simple words", "for a museum guide",
              "as a bulleted list", "for a podcast intro", "for a science fair")


_SYLLABLES = ("ka", "lo", "mi", "zu", "ter", "vin", "sol", "pra", "dex", "mur", "qui", "ben", "tos", "fal",
              "gor", "hul", "jas", "nep", "ris", "wum", "yel", "cor", "dra", "ple")
_EXTRAS = ("citing one surprising statistic", "with a catchy title", "ending with an open question",
           "without using the letter z", "in the voice of a pirate", "as a numbered list of steps",
           "comparing it with the nineteenth century", "including a short quote", "for a rainy afternoon",
           "using exactly three adjectives", "with a counterargument", "for readers in Brazil",
           "as if explaining it to a grandparent", "with one practical tip", "mentioning a famous inventor",
           "in a cheerful tone", "in a skeptical tone", "as a limerick", "as a formal memo",
           "with a table of pros and cons", "using a cooking metaphor", "with a call to action",
           "highlighting common myths", "from the point of view of a cat", "for a radio advert")


def _rng(text: str) -> random.Random:
    return random.Random(hashlib.sha256(text.encode()).digest())


def _instruction(rng: random.Random) -> str:
    # made-up keywords keep a long run's pool diverse, as a real model's would be
    words = ["".join(rng.choice(_SYLLABLES) for _ in range(3)) for _ in range(5)]
    return (f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)} about {rng.choice(_TOPICS)} {rng.choice(_AUDIENCES)}, "
            f"using the words {', '.join(words)}.")


def _prompt_of(body: dict) -> str:
    if "messages" in body:
        return "\n".join(m.get("content", "") for m in body["messages"] if m.get("role") == "user")
    p = body.get("prompt", "")
    return "\n".join(p) if isinstance(p, list) else p


def _bootstrap(prompt: str, rng: random.Random) -> str:
    listed = re.findall(r"^\d+\. (.*)$", prompt, flags=re.MULTILINE)
    items = []
    for _ in range(rng.randint(3, 7)):
        roll = rng.random()
        if roll < 0.08 and listed:
            items.append(rng.choice(listed))  # a copy of an in-context instruction: ROUGE-L 1.0
        elif roll < 0.14:
            items.append(f"Draw a picture of {rng.choice(_TOPICS)}.")  # blocked word
        elif roll < 0.18:
            items.append("Name a color.")  # too short
        elif roll < 0.21:
            items.append(f"Explain why 16.5 degrees is a comfortable temperature for {rng.choice(_TOPICS)}.")
        else:
            items.append(_instruction(rng))
    text = " " + items[0]
    for k, item in enumerate(items[1:], start=10):
        sep = "" if rng.random() < 0.05 else " "  # "10.Foo": no space after the dot
        text += f"\n{k}.{sep}{item}"
    return text + f"\n{10 + len(items) - 1}. {_instruction(rng)}\n\n"


def _classify(prompt: str) -> str:
    task = prompt.rsplit("Task:", 1)[-1]
    clf = re.search(r"\b(Classify|Identify|Detect|Rank|Predict)\b", task) or _rng(task).random() < 0.2
    return " Yes" if clf else " No"


def _instances(prompt: str, rng: random.Random) -> str:
    if "Class label:" in prompt.rsplit("\n\nTask:", 1)[0]:
        labels = rng.sample(["Positive", "Negative", "Neutral", "Mixed", "Unclear"], rng.randint(2, 4))
        parts = [f"Class label: {lab}\nText: {_instruction(rng)}" for lab in labels]
        if rng.random() < 0.1:  # the same input under two labels: the task must be dropped
            parts.append(f"Class label: Other\n{parts[0].split(chr(10), 1)[1]}")
        return "\n".join(parts) + "\n"
    if rng.random() < 0.25:
        return f"Output: {_instruction(rng)} {_instruction(rng)}\n"
    parts = []
    for k in range(1, rng.randint(2, 6) + 1):
        inp = f"Topic: {rng.choice(_TOPICS)}" if rng.random() < 0.8 else "Input:"
        out = _instruction(rng)
        parts.append(f"Example {k}\n{inp}\nOutput: {out}")
    return "\n".join(parts) + "\nExample 6\n"


def synthetic_responder(body: dict) -> str:
    prompt = _prompt_of(body)
    rng = _rng(prompt)
    if prompt.rstrip().endswith("Is it classification?"):
        return _classify(prompt)
    if re.search(r"\n\d+\.\s*$", prompt):
        return _bootstrap(prompt, rng)
    return _instances(prompt, rng)
