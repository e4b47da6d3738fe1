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
from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder

SECRET = "sk-test-END-TO-END-planted-key-42"


@pytest.fixture(scope="module")
def published(tmp_path_factory, seed_file):
    root = tmp_path_factory.mktemp("e2e")
    run, folder = root / "run", root / "hub"
    with LocalServer(synthetic_responder) as server:
        code = cli.main(["generate", "--out", str(run), "--num-instructions", "12", "--model", "local-test-model",
                         "--base-url", server.base_url, "--api-key", SECRET, "--seed-tasks", str(seed_file),
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


PLANTED = "zz-planted-home-q7x"


def test_no_local_path_reaches_the_built_folder_and_replays_say_so(tmp_path, seed_file):
    """Seed file, run and output under a distinctively named directory: nothing the build writes
    may carry that name. A replayed run's card says it was replayed, and the loading example
    names the --repo-id."""
    home = tmp_path / PLANTED
    home.mkdir()
    seeds = home / "my_seeds.jsonl"
    seeds.write_bytes(seed_file.read_bytes())
    run, replayed = home / "run", home / "replayed"
    with LocalServer(synthetic_responder) as server:
        assert cli.main(["generate", "--out", str(run), "--num-instructions", "8", "--model", "local-test-model",
                         "--base-url", server.base_url, "--api-key", SECRET, "--seed-tasks", str(seeds),
                         "--no-progress", "--no-summary"]) == 0
    assert cli.main(["replay", "--batch-dir", str(run), "--out", str(replayed), "--no-progress", "--no-summary"]) == 0
    for source, name in ((run, "built"), (replayed, "built-replay")):
        out = home / name
        assert cli.main(["dataset", "build", str(source), "--out", str(out), "--repo-id", "acme/demo",
                         "--no-progress"]) == 0
        files = [p for p in out.rglob("*") if p.is_file()]
        assert files and not [p for p in files if PLANTED.encode() in p.read_bytes()]
        card = (out / "README.md").read_text("utf-8")
        assert 'load_dataset("acme/demo"' in card and "my_seeds.jsonl" in card
        assert ("re-derived offline" in card) == (source == replayed)
        assert "stopped before completion" not in card
