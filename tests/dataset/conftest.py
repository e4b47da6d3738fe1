"""Run directories written per docs/run-directory.md, for the dataset builder's tests.

The pipeline is written elsewhere, so these fixtures write the files a run leaves behind with
realistic content: instructions that start with varied verbs, classification and open-ended
tasks, instances with and without inputs, finetuning prompts in the upstream templates, a
manifest with a planted API key. `upstream_run` writes the same data with only the fields the
original scripts wrote (no ids, no manifest, raw " Yes"/" No" answers).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

PLANTED_SECRET = "sk-planted0123456789abcdefSECRET"
PLANTED_HF = "hf_PlantedHubToken0123456789abcdef"

_TASKS = [
    ("Classify the sentiment of the given movie review as positive or negative.", True,
     [("The plot was thin but the acting carried it.", "Positive"), ("Two hours I will never get back.", "Negative")]),
    ("Write a short poem about the ocean at night.", False, [("", "Dark water hums beneath the moon,\nwaves fold the silver light.")]),
    ("Generate three creative names for a coffee shop near a university.", False,
     [("", "1. The Daily Grind\n2. Bean There\n3. Thesis Fuel")]),
    ("Given a list of numbers, find the largest and the smallest number.", False,
     [("3, 9, -2, 14, 7", "Largest: 14, smallest: -2"), ("1, 1, 1", "Largest: 1, smallest: 1")]),
    ("Identify whether the following statement is a fact or an opinion.", True,
     [("Paris is the capital of France.", "Fact"), ("Paris is the most beautiful city.", "Opinion")]),
    ("Explain the difference between weather and climate to a ten-year-old.", False,
     [("", "Weather is what the sky does today; climate is what it usually does over many years.")]),
    ("Translate the sentence into Spanish.", False, [("Where is the train station?", "¿Dónde está la estación de tren?")]),
    ("Summarize the paragraph in one sentence.", False,
     [("The city council met on Tuesday to discuss the new park. After hours of debate, they approved the budget.",
       "The council approved the new park's budget after a long debate.")]),
    ("Suggest a healthy breakfast that can be made in five minutes.", False,
     [("", "Greek yogurt with berries, a handful of oats and a spoon of honey.")]),
    ("Detect whether the email is spam or not spam.", True,
     [("You have WON a free cruise! Click here now.", "Spam"), ("Meeting moved to 3pm, see you there.", "Not spam")]),
    ("Rewrite the sentence in the passive voice.", False, [("The chef cooked the meal.", "The meal was cooked by the chef.")]),
    ("Give me a list of five questions to ask in a job interview.", False,
     [("", "What does success look like in this role?\nHow is the team organized?\nWhat are the biggest challenges?\n"
           "How is feedback given?\nWhat are the next steps?")]),
    ("Find the grammatical error in the sentence and correct it.", False,
     [("She don't like apples.", "She doesn't like apples.")]),
    ("Create a packing list for a weekend camping trip.", False, [("", "Tent, sleeping bag, headlamp, water filter, stove.")]),
    ("Determine if the number is prime.", True, [("17", "Yes"), ("21", "No")]),
    ("Describe a typical day in the life of a lighthouse keeper.", False,
     [("", "They wake before dawn, check the lamp, log the weather and watch the sea.")]),
    ("Calculate the total cost including a 15% tip.", False, [("Bill: $40", "$46")]),
    ("Compose a polite reply declining the meeting invitation.", False,
     [("Can you join our planning meeting on Friday?", "Thank you for the invitation; unfortunately I cannot attend on Friday.")]),
    ("List the steps to change a flat tire.", False,
     [("", "Loosen the nuts, jack up the car, swap the wheel, tighten the nuts, lower the car.")]),
    ("Tell me a fun fact about octopuses.", False, [("", "Octopuses have three hearts.")]),
    ("Sort the words in alphabetical order.", False, [("banana, apple, cherry", "apple, banana, cherry")]),
    ("Convert the temperature from Celsius to Fahrenheit.", False, [("25°C", "77°F")]),
    ("Choose the word that does not belong in the group.", True, [("apple, banana, carrot, grape", "carrot")]),
    ("Write a tweet announcing the launch of a new bicycle model.", False,
     [("", "Meet the Falcon 2: lighter, faster, and ready for your next ride. #cycling")]),
]

_TEMPLATES_WITH_INPUT = ["{i}\nInput: {x}\n\nOutput:", "{i}\n\nInput: {x}\n\nOutput:", "Task: {i}\nInput: {x}\nOutput:",
                         "{i}\n{x}\n\n", "{i}\n\n{x}\n\n"]
_TEMPLATES_NO_INPUT = ["{i} Output:", "{i}\nOutput:", "{i}\n\nOutput:", "{i}\n", "Task: {i}\n\n"]


def _write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_run(folder: Path, *, upstream: bool = False, secret_settings: dict | None = None) -> Path:
    """Write a finished run (24 instructions, their instances and finetuning data)."""
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    instructions, clf, raw_instances, instances, finetuning, messages = [], [], [], [], [], []
    for n, (text, is_clf, pairs) in enumerate(_TASKS):
        iid = f"instruction_{n}"
        similar = {t: round(0.5 - 0.03 * k, 4) for k, (t, _, _) in enumerate(_TASKS[:10]) if t != text}
        rec = {"instruction": text, "most_similar": similar, "avg_similarity_score": round(0.1 + 0.005 * n, 4),
               "metadata": {"prompt": "Come up with a series of tasks:\n1. ...", "response": {"text": "..."},
                            "created_at": "2026-11-21 05:00:00"}, "request_idx": n // 3}
        c = {"instruction": text, "is_classification": " Yes" if is_clf else " No"}
        raw = {"instruction": text, "raw_instances": "...", "instance_metadata": {}, "instruction_metadata": {},
               "most_similar": similar, "avg_similarity_score": rec["avg_similarity_score"]}
        if not upstream:
            rec["id"], c["id"], c["label"], raw["id"], raw["is_classification"] = iid, iid, is_clf, iid, is_clf
        instructions.append(rec)
        clf.append(c)
        raw_instances.append(raw)
        for x, y in pairs:
            inst = {"instruction": text, "input": x, "output": y}
            if not upstream:
                inst.update(id=iid, is_classification=is_clf)
            instances.append(inst)
            template = rng.choice(_TEMPLATES_WITH_INPUT if x else _TEMPLATES_NO_INPUT)
            finetuning.append({"prompt": template.format(i=text, x=x), "completion": " " + y + "<|endoftext|>"})
            user = text + ("\n\n" + x if x else "")
            messages.append({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": y}],
                             "id": iid})
    _write_jsonl(folder / "machine_generated_instructions.jsonl", instructions)
    _write_jsonl(folder / "is_clf_or_not_davinci_template_1.jsonl", clf)
    _write_jsonl(folder / "machine_generated_instances.jsonl", raw_instances)
    _write_jsonl(folder / "all_generated_instances.jsonl", instances)
    _write_jsonl(folder / f"finetuning/gpt3_finetuning_data_{len(finetuning)}.jsonl", finetuning)
    if upstream:
        return folder
    _write_jsonl(folder / "finetuning/finetuning_prompt_completion.jsonl", finetuning)
    _write_jsonl(folder / "finetuning/finetuning_messages.jsonl", messages)
    _write_jsonl(folder / "finetuning/finetuning_alpaca.jsonl",
                 [{"instruction": i["instruction"], "input": i["input"], "output": i["output"], "id": i["id"]}
                  for i in instances])
    _write_jsonl(folder / "requests.jsonl", [{"step": "bootstrap", "request_idx": 0, "prompt": "...", "params": {},
                                              "response": {"choices": []}, "usage": {}, "error": None,
                                              "created_at": "2026-11-21 05:00:00"}])
    _write_jsonl(folder / "rejected.jsonl", [{"step": "bootstrap", "request_idx": 0, "candidate": "Draw a map.",
                                              "rule": "blocked_word"}])
    settings = {"model": "gpt-3.5-turbo-instruct", "num_instructions": 24, "rouge_threshold": 0.7,
                "max_tokens": 1024, "tokens_per_minute": 90000, "api_key_set": True,
                "base_url": "https://api.example.com/v1"}
    settings.update(secret_settings or {})
    manifest = {
        "settings": settings, "profile": "default", "model": "gpt-3.5-turbo-instruct", "backend": "openai",
        "seed_tasks": {"path": "/nonexistent/seed_tasks.jsonl", "sha256": "ab" * 32, "count": 175},
        "random_seed": 42,
        "versions": {"python": "3.11", "selfinstruct": "0.1.0", "datasets": "5.2.0"},
        "counts": {"bootstrap": {"prompts": 8, "requests": 8, "candidates": 60, "kept": 24,
                                 "rejected": {"rouge_l": 20, "blocked_word": 16}},
                   "instances": {"kept": len(instances)}},
        "usage": {"prompt_tokens": 12345, "completion_tokens": 6789}, "cost_usd": 0.0421,
        "timings": {"bootstrap": 12.5}, "status": "complete", "settings_hash": "0123abcd",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return folder


SECRET_SETTINGS = {
    "api_key": PLANTED_SECRET, "openai_api_key": PLANTED_SECRET, "OPENAI_API_KEY": PLANTED_SECRET,
    "hf_token": PLANTED_HF, "token": PLANTED_HF, "client_secret": PLANTED_SECRET,
    "headers": {"Authorization": "Bearer " + PLANTED_SECRET},
    "extra_note": "key was " + PLANTED_SECRET, "proxy": "https://user:" + PLANTED_SECRET + "@proxy.example.com",
}


@pytest.fixture(scope="session")
def make_run():
    """`write_run(folder, upstream=False, secret_settings=None)` for tests that need a fresh run."""
    return write_run


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    return write_run(tmp_path_factory.mktemp("runs") / "run", secret_settings=SECRET_SETTINGS)


@pytest.fixture(scope="session")
def upstream_run(tmp_path_factory) -> Path:
    return write_run(tmp_path_factory.mktemp("runs") / "upstream_run", upstream=True)


@pytest.fixture(scope="session")
def built_folder(run_dir, tmp_path_factory, seed_file) -> Path:
    """`selfinstruct dataset build` over the run, once per session (the CLI, in-process)."""
    from selfinstruct.generation.cli import main

    out = tmp_path_factory.mktemp("built") / "hub-folder"
    code = main(["dataset", "build", str(run_dir), "--out", str(out), "--seeds", str(seed_file),
                 "--repo-id", "acme/self-instruct-demo", "--no-progress"])
    assert code == 0
    return out
