"""A small re-implementation of the original Self-Instruct scripts' *decisions*, written from the
method's spec (shared/spec/pipeline.md) independently of the pipeline package, to produce an
upstream-format batch directory to replay. No upstream batch was ever released, so this is how
replay's faithfulness is tested: same algorithm, same random seeds (42 for step 1, 123 for
step 4), same packing of 5 prompts per request, same rouge_score scorer, same > 0.7 rule, same
`str.capitalize`, same `np.argsort` top-10 (its tie order as numpy < 1.25 gave it, by `argsort_legacy`, which
test_argsort_legacy.py checks against numpy 1.24 itself) and `np.mean`, same set-based
instance dedup.

The prompt texts and step 1's prompt builder and response parser are the original scripts' own,
imported from ../shared (`original`: bootstrap_instructions, the two templates); HTTP goes
through the openai SDK to the local server, one call per prompt of the 5-prompt request (the
local server answers list prompts with one choice).
"""
from __future__ import annotations

import datetime
import json
import random
import re
from pathlib import Path

import numpy as np
import openai
from rouge_score import rouge_scorer

from selfinstruct.generation.similarity.argsort_legacy import legacy_argsort_tail

def _request(client, prompts, **kw):
    """Upstream's make_requests result shape: one {prompt, response: {choices}, created_at} per prompt."""
    out = []
    for p in prompts:
        resp = client.completions.create(model="local-test-model", prompt=p, n=1, **kw).model_dump()
        choice = {k: resp["choices"][0].get(k) for k in ("text", "index", "logprobs", "finish_reason")}
        out.append({"prompt": p, "response": {"choices": [choice]}, "created_at": str(datetime.datetime.now())})
    return out


def bootstrap(base_url: str, batch_dir: Path, seed_path: Path, n: int, original, clf_only: bool = False) -> None:
    random.seed(42)
    client = openai.OpenAI(base_url=base_url, api_key="sim", max_retries=0)
    seeds = [json.loads(l) for l in open(seed_path)]
    seed_instructions = [t["instruction"] for t in seeds if t["is_classification"] or not clf_only]
    machine: list[str] = []
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    request_idx = 0
    with open(batch_dir / "machine_generated_instructions.jsonl", "w") as fout:
        while len(machine) < n:
            prompts = []
            for _ in range(5):
                chosen = random.sample(machine, min(2, len(machine)))
                chosen += random.sample(seed_instructions, 8 - len(chosen))
                random.shuffle(chosen)
                prompts.append(original[0].encode_prompt(chosen, classification=clf_only))
            results = _request(client, prompts, max_tokens=1024, temperature=0.7, top_p=0.5, frequency_penalty=0,
                               presence_penalty=2, stop=["\n\n", "\n16", "16.", "16 ."], logprobs=1)
            insts, metas = [], []
            for result in results:
                new = original[0].post_process_gpt3_response(result["response"])
                insts += new
                metas += [result] * len(new)
            for inst, meta in zip(insts, metas):
                pool = seed_instructions + machine
                scores = [scorer.score(inst, e)["rougeL"].fmeasure for e in pool]
                if max(scores) > 0.7:
                    continue
                most_similar = {pool[i]: scores[i] for i in legacy_argsort_tail(np.array(scores, dtype=float), 10)[::-1]}
                machine.append(inst)
                fout.write(json.dumps({"instruction": inst, "most_similar": most_similar,
                                       "avg_similarity_score": float(np.mean(scores)), "metadata": meta,
                                       "request_idx": request_idx}) + "\n")
            request_idx += 1


def classify(base_url: str, batch_dir: Path, original) -> None:
    template = original[1].template_1
    client = openai.OpenAI(base_url=base_url, api_key="sim", max_retries=0)
    lines = [json.loads(l) for l in open(batch_dir / "machine_generated_instructions.jsonl")]
    with open(batch_dir / "is_clf_or_not_davinci_template_1.jsonl", "w") as fout:
        for b in range(0, len(lines), 5):
            batch = lines[b:b + 5]
            results = _request(client, [template + " " + d["instruction"].strip() + "\n" + "Is it classification?" for d in batch], max_tokens=3,
                               temperature=0, top_p=0, frequency_penalty=0, presence_penalty=0,
                               stop=["\n", "Task"], logprobs=1)
            for d, r in zip(batch, results):
                answer = r["response"]["choices"][0]["text"] if r["response"] is not None else ""
                fout.write(json.dumps({"instruction": d["instruction"], "is_classification": answer}) + "\n")


def instances(base_url: str, batch_dir: Path, original) -> None:
    out_first, in_first = original[2].output_first_template_for_clf, original[2].input_first_template_for_gen
    client = openai.OpenAI(base_url=base_url, api_key="sim", max_retries=0)
    tasks = []
    for line in open(batch_dir / "machine_generated_instructions.jsonl"):
        d = json.loads(line)
        d["instruction_metadata"] = d.pop("metadata")
        tasks.append(d)
    clf = {}
    for line in open(batch_dir / "is_clf_or_not_davinci_template_1.jsonl"):
        d = json.loads(line)
        clf[d["instruction"]] = d["is_classification"].strip() in ["Yes", "yes", "YES"]
    with open(batch_dir / "machine_generated_instances.jsonl", "w") as fout:
        for b in range(0, len(tasks), 5):
            batch = tasks[b:b + 5]
            prompts = [(out_first if clf[t["instruction"]] else in_first) + " " + t["instruction"].strip() + "\n"
                       for t in batch]
            results = _request(client, prompts, max_tokens=300 if any(clf[t["instruction"]] for t in batch) else 350,
                               temperature=0, top_p=0, frequency_penalty=0, presence_penalty=1.5,
                               stop=["Example 6", "Task:"], logprobs=1)
            for t, r in zip(batch, results):
                row = {"instruction": t["instruction"],
                       "raw_instances": r["response"]["choices"][0]["text"] if r["response"] else "",
                       "instance_metadata": r, "instruction_metadata": t["instruction_metadata"],
                       "most_similar": t["most_similar"], "avg_similarity_score": t["avg_similarity_score"]}
                fout.write(json.dumps(row) + "\n")


def _parse_io(text):
    if re.findall(r"Output\s*\d*\s*:", text):
        inp = re.split(r"Output\s*\d*\s*:", text)[0].strip()
        out = re.split(r"Output\s*\d*\s*:", text)[1].strip()
    else:
        inp, out = "", text.strip()
    if re.findall(r"Input\s*\d*\s*:", out):
        out = re.split(r"Input\s*\d*\s*:", out)[0].strip()
    return re.sub(r"^Input\s*\d*\s*:", "", inp).strip(), out


def _filter(instances):
    instances = [i for i in instances if i[1] != i[2] and i[2] != ""
                 and not i[1].strip().endswith(":") and not i[2].strip().endswith(":")]
    for i in range(1, len(instances)):
        for j in range(0, i):
            if instances[i][1] != "" and instances[i][1] == instances[j][1] and instances[i][2] != instances[j][2]:
                return []
    return list(set(instances))


def finetune(batch_dir: Path) -> None:
    random.seed(123)
    clf = {}
    for line in open(batch_dir / "is_clf_or_not_davinci_template_1.jsonl"):
        d = json.loads(line)
        clf[d["instruction"]] = d["is_classification"].strip() in ["Yes", "yes", "YES"]
    training = []
    for line in open(batch_dir / "machine_generated_instances.jsonl"):
        task = json.loads(line)
        inst, raw, meta = task["instruction"], task["raw_instances"], task["instance_metadata"]
        found = []
        if clf[inst]:
            if "Class label:" in raw:
                for chunk in raw.split("Class label:")[1:]:
                    fields = chunk.strip().split("\n", 1)
                    found.append((inst.strip(), fields[1].strip() if len(fields) == 2 else "", fields[0].strip()))
        else:
            raw = raw.strip()
            if re.findall(r"Example\s?\d*\.?", raw):
                for chunk in [c.strip() for c in re.split(r"Example\s?\d*\.?", raw) if c.strip() != ""]:
                    i, o = _parse_io(chunk)
                    found.append((inst.strip(), i.strip(), o.strip()))
            elif re.findall(r"Output\s*\d*\s*:", raw):
                i, o = _parse_io(raw)
                found.append((inst.strip(), i.strip(), o.strip()))
        if found and meta["response"]["choices"][0]["finish_reason"] == "length":
            found = found[:-1]
        found = _filter(found)
        training += random.sample(found, min(len(found), 5))
    with open(batch_dir / "all_generated_instances.jsonl", "w") as fout:
        for i in training:
            fout.write(json.dumps({"instruction": i[0], "input": i[1], "output": i[2]}) + "\n")


def run_all(base_url: str, batch_dir: Path, seed_path: Path, n: int, original, clf_only: bool = False) -> None:
    batch_dir.mkdir(parents=True, exist_ok=True)
    bootstrap(base_url, batch_dir, seed_path, n, original, clf_only)
    classify(base_url, batch_dir, original)
    instances(base_url, batch_dir, original)
    finetune(batch_dir)
