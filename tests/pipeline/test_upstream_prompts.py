"""Differential: what a live `--profile upstream` run sends, against the original scripts' own
prompt builders and templates imported from ../shared/upstream/self-instruct/ (test-only; the
project never ships or runs that code).

Step 1 is checked round by round: the original sampling loop (`random` seeded 42 at import,
`sample_machine_instructions`, `random.sample`, `random.shuffle`, `encode_prompt`) is driven here
with the pool our run kept after each round, and must produce exactly the prompts our run sent.
"""
from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pytest

from selfinstruct.generation.pipeline.templates import bootstrap_prompt, classify_prompt, instances_prompt
from selfinstruct.generation.pipeline.upstream_copy import read_texts

from .conftest import read_jsonl


def _seeds(upstream_repo, clf_only=False):
    rows = read_jsonl(upstream_repo / "data" / "seed_tasks.jsonl")
    return [r["instruction"] for r in rows if r["is_classification"] or not clf_only]


def _by_step(run: Path):
    recs = read_jsonl(run / "requests.jsonl")
    out = defaultdict(list)
    for r in recs:
        out[r["step"]].append(r)
    return out


def test_prompt_builders_equal_the_originals_on_seeds_and_odd_text(original, upstream_repo):
    boot, clf, inst = original
    texts = read_texts(upstream_repo)
    seeds = _seeds(upstream_repo)
    odd = ["  Spaces   inside\tand a trailing colon:", "Line one\nline two", "Ünïcode – dashes: ok:", seeds[0]]
    rng = random.Random(0)
    for trial in range(30):
        picks = rng.sample(seeds, 8) if trial % 3 else rng.sample(seeds, 6) + odd[:2]
        for c in (False, True):
            assert bootstrap_prompt(picks, classification=c, texts=texts) == boot.encode_prompt(picks, classification=c)
    for text in seeds + odd:
        assert classify_prompt(text, texts) == clf.template_1 + " " + text.strip() + "\n" + "Is it classification?"
        assert instances_prompt(text, is_classification=True, texts=texts) == \
            inst.output_first_template_for_clf + " " + text.strip() + "\n"
        assert instances_prompt(text, is_classification=False, texts=texts) == \
            inst.input_first_template_for_gen + " " + text.strip() + "\n"


@pytest.mark.parametrize("clf_only", [False, True])
def test_a_live_upstream_run_sends_what_the_original_scripts_send(tmp_path, generate, original, upstream_repo,
                                                                   clf_only):
    boot, clf, inst = original
    out = tmp_path / "run"
    extra = ["--classification-only"] if clf_only else []
    assert generate(out, "--profile", "upstream", "--max-instances-to-generate", "4", *extra, num=30) == 0
    sent = _by_step(out)
    kept = read_jsonl(out / "machine_generated_instructions.jsonl")
    seeds = _seeds(upstream_repo, clf_only)

    # step 1: the original loop, fed our kept pool after each round of 5 prompts
    rounds = defaultdict(list)
    for r in sent["bootstrap"]:
        rounds[r["round"]].append(r)
    random.seed(42)
    machine: list[str] = []
    for r in sorted(rounds):
        expected = []
        for _ in range(5):
            picks = boot.sample_machine_instructions(machine, similarities=None, n=2)
            picks += random.sample(seeds, 8 - len(picks))
            random.shuffle(picks)
            expected.append(boot.encode_prompt(picks, classification=clf_only))
        assert [x["prompt"] for x in sorted(rounds[r], key=lambda x: x["position"])] == expected, f"round {r}"
        p = rounds[r][0]["params"]
        assert (p["max_tokens"], p["temperature"], p["top_p"], p["frequency_penalty"], p["presence_penalty"],
                p["stop"], p["logprobs"], p["n"]) == (1024, 0.7, 0.5, 0.0, 2.0, ["\n\n", "\n16", "16.", "16 ."], 1, 1)
        machine += [k["instruction"] for k in kept if k["request_idx"] == r]
    assert len(rounds) >= 2

    # step 2: template_1, the instruction, the question; greedy, 3 tokens
    by_key = {r["key"]: r for r in sent["classify"]}
    assert sorted(by_key) == sorted(k["instruction"] for k in kept)
    for k in kept:
        rec = by_key[k["instruction"]]
        assert rec["prompt"] == clf.template_1 + " " + k["instruction"].strip() + "\n" + "Is it classification?"
        p = rec["params"]
        assert (p["max_tokens"], p["temperature"], p["top_p"], p["stop"], p["logprobs"]) == (3, 0.0, 0.0, ["\n", "Task"], 1)

    # step 3: output-first for classification tasks; 300 tokens for a batch of 5 holding one
    labels = {r["instruction"]: r["is_classification"].strip() in ("Yes", "yes", "YES")
              for r in read_jsonl(out / "is_clf_or_not_davinci_template_1.jsonl")}
    order = [k["instruction"] for k in kept]
    insts = {r["key"]: r for r in sent["instances"]}
    for i, text in enumerate(order):
        rec = insts[text]
        template = inst.output_first_template_for_clf if labels[text] else inst.input_first_template_for_gen
        assert rec["prompt"] == template + " " + text.strip() + "\n"
        batch = order[i - i % 5:i - i % 5 + 5]
        p = rec["params"]
        assert p["max_tokens"] == (300 if any(labels[t] for t in batch) else 350)
        assert (p["temperature"], p["top_p"], p["presence_penalty"], p["stop"]) == (0.0, 0.0, 1.5, ["Example 5", "Task:"])
    assert any(labels.values()) and (clf_only or not all(labels.values()))
