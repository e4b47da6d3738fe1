"""Across areas: a real generation run (OpenAI SDK -> local HTTP server), packaged by the dataset
builder into a Hub folder, read back by `datasets`, and the packaged numbers equal the run's.

The pipeline and the builder meet only at the run-directory contract (docs/run-directory.md);
this is the test that fails if either side drifts from it.
"""
from __future__ import annotations

import json

import pytest
from datasets import load_dataset

from selfinstruct.generation import cli
from selfinstruct.generation.lm.localserver import LocalServer
from selfinstruct.generation.pipeline.synthetic import synthetic_responder

SECRET = "sk-test-END-TO-END-planted-key-42"


@pytest.fixture(scope="module")
def published(tmp_path_factory, upstream_seed_file):
    root = tmp_path_factory.mktemp("e2e")
    run, folder = root / "run", root / "hub"
    with LocalServer(synthetic_responder) as server:
        code = cli.main(["generate", "--out", str(run), "--num-instructions", "12", "--model", "local-test-model",
                         "--base-url", server.base_url, "--api-key", SECRET, "--seed-tasks", str(upstream_seed_file),
                         "--no-progress", "--no-summary"])
    assert code == 0
    assert cli.main(["dataset", "build", str(run), "--out", str(folder), "--no-progress"]) == 0
    return run, folder


def _cache(folder) -> str:
    """A private `datasets` cache beside this run: the shared cache can serve an earlier,
    different build of a same-shaped folder, and then the assertions would not read this one."""
    return str(folder.parent / "hf-cache")


def _jsonl(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_packaged_instructions_equal_the_run(published):
    run, folder = published
    kept = _jsonl(run / "machine_generated_instructions.jsonl")
    rows = load_dataset(str(folder), "instructions", cache_dir=_cache(folder))["train"]
    assert [r["instruction"] for r in rows] == [k["instruction"] for k in kept]
    for row, record in zip(rows, kept):
        assert row["avg_similarity_score"] == record["avg_similarity_score"]
        assert [(m["instruction"], m["score"]) for m in row["most_similar"]] == list(record["most_similar"].items())


def test_packaged_instances_and_finetuning_equal_the_run(published):
    run, folder = published
    instances = _jsonl(run / "all_generated_instances.jsonl")
    rows = load_dataset(str(folder), "instances", cache_dir=_cache(folder))["train"]
    assert sorted((r["instruction"], r["input"], r["output"]) for r in rows) == \
        sorted((i["instruction"], i["input"], i["output"]) for i in instances)
    finetuning = _jsonl(run / "finetuning" / "finetuning_prompt_completion.jsonl")
    assert load_dataset(str(folder), "finetuning", cache_dir=_cache(folder))["train"].num_rows == len(finetuning) > 0
    assert load_dataset(str(folder), "messages", cache_dir=_cache(folder))["train"].num_rows == len(finetuning)


def test_key_reaches_no_file(published):
    for root in published:
        for path in root.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path
