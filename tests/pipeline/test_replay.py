"""`selfinstruct replay`: an upstream batch (made by a re-implementation of the original
scripts, see upstream_sim.py) and our own run directories, re-derived with no model calls."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from selfinstruct.generation import cli

from . import upstream_sim
from .conftest import derived_files, read_jsonl


@pytest.fixture(scope="module")
def upstream_batch(tmp_path_factory, server, upstream_seed_file, original):
    batch = tmp_path_factory.mktemp("upstream_batch")
    upstream_sim.run_all(server.base_url, batch, upstream_seed_file, n=40, original=original)
    return batch


def test_a_classification_only_batch_replays_with_the_classification_pool(tmp_path_factory, tmp_path, server,
                                                                          upstream_seed_file, original):
    """Its pool is the 26 classification seeds: read from the prompts, or given by the flag."""
    batch = tmp_path_factory.mktemp("clf_batch")
    upstream_sim.run_all(server.base_url, batch, upstream_seed_file, n=25, original=original, clf_only=True)
    original_rows = read_jsonl(batch / "machine_generated_instructions.jsonl")
    for extra in ((), ("--classification-only",)):
        out = tmp_path / ("flag" if extra else "inferred")
        assert _replay(batch, out, "--profile", "upstream", *extra, seeds=upstream_seed_file) == 0
        rows = read_jsonl(out / "machine_generated_instructions.jsonl")
        assert [r["instruction"] for r in rows] == [r["instruction"] for r in original_rows]
        assert [list(r["most_similar"]) for r in rows] == [list(r["most_similar"]) for r in original_rows]
        assert [r["avg_similarity_score"] for r in rows] == pytest.approx([r["avg_similarity_score"] for r in original_rows])
        assert json.loads((out / "manifest.json").read_text())["settings"]["classification_only"] is True


def _replay(src, out, *extra, seeds=None):
    argv = ["replay", "--batch-dir", str(src), "--out", str(out), "--no-progress", "--no-summary"]
    if seeds:
        argv += ["--seed-tasks", str(seeds)]
    return cli.main(argv + list(extra))


def test_upstream_batch_replays_to_the_same_kept_sets(upstream_batch, tmp_path, server, upstream_seed_file):
    n_requests = len(server.received)
    out = tmp_path / "replayed"
    assert _replay(upstream_batch, out, "--profile", "upstream", seeds=upstream_seed_file) == 0
    assert len(server.received) == n_requests  # no model calls
    original = read_jsonl(upstream_batch / "machine_generated_instructions.jsonl")
    replayed = read_jsonl(out / "machine_generated_instructions.jsonl")
    assert [r["instruction"] for r in replayed] == [r["instruction"] for r in original]
    assert [r["request_idx"] for r in replayed] == [r["request_idx"] for r in original]
    for a, b in zip(replayed, original):
        assert abs(a["avg_similarity_score"] - b["avg_similarity_score"]) <= 1e-9
        assert a["most_similar"] == pytest.approx(b["most_similar"])
        assert list(a["most_similar"]) == list(b["most_similar"])  # the tie order too
        assert a["metadata"]["response"] == b["metadata"]["response"]
    # the quirks made a difference in this batch (capitalize, "16." stop) and were reproduced
    assert any(r["rule"] == "too_short" for r in read_jsonl(out / "rejected.jsonl"))
    key = lambda r: (r["instruction"], r["input"], r["output"])  # noqa: E731
    assert Counter(map(key, read_jsonl(out / "all_generated_instances.jsonl"))) == \
        Counter(map(key, read_jsonl(upstream_batch / "all_generated_instances.jsonl")))
    labels = read_jsonl(out / "is_clf_or_not_davinci_template_1.jsonl")
    assert [r["is_classification"] for r in labels] == \
        [r["is_classification"] for r in read_jsonl(upstream_batch / "is_clf_or_not_davinci_template_1.jsonl")]
    assert json.loads((out / "manifest.json").read_text())["status"] == "replayed"


def test_upstream_batch_refiltered_with_the_default_profile(upstream_batch, tmp_path, upstream_seed_file):
    out = tmp_path / "default"
    assert _replay(upstream_batch, out, "--profile", "default", seeds=upstream_seed_file) == 0
    kept = [r["instruction"] for r in read_jsonl(out / "machine_generated_instructions.jsonl")]
    original = [r["instruction"] for r in read_jsonl(upstream_batch / "machine_generated_instructions.jsonl")]
    assert kept and kept != original  # no lowercasing, different splitting
    assert any(k != k[0] + k[1:].lower() for k in kept)


def test_replay_of_our_own_run_is_identical_and_refilters(tmp_path, generate, server):
    run = tmp_path / "run"
    assert generate(run, "--concurrency", "8", num=30) == 0
    n_requests = len(server.received)
    same = tmp_path / "same"
    assert _replay(run, same) == 0
    assert derived_files(same) == derived_files(run)
    strict = tmp_path / "strict"
    assert _replay(run, strict, "--threshold", "0.4", "--num-instructions", "1000") == 0
    assert len(server.received) == n_requests
    loose_kept = read_jsonl(run / "machine_generated_instructions.jsonl")
    strict_kept = read_jsonl(strict / "machine_generated_instructions.jsonl")
    assert 0 < len(strict_kept) < len(loose_kept) + 40
    scores = [r["score"] for r in read_jsonl(strict / "rejected.jsonl") if r["rule"] == "rouge_l"]
    assert scores and min(scores) >= 0.4
    # upstream filters over the same responses
    up = tmp_path / "up"
    assert _replay(run, up, "--profile", "upstream", "--num-instructions", "1000") == 0
    assert all(r["instruction"][1:] == r["instruction"][1:].lower()
               for r in read_jsonl(up / "machine_generated_instructions.jsonl"))


def test_replay_refuses_bad_sources(tmp_path, capsys, upstream_seed_file):
    assert _replay(tmp_path / "missing", tmp_path / "o") == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _replay(empty, tmp_path / "o") == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "machine_generated_instructions.jsonl").write_text('{"instruction": "x"}\n')
    assert _replay(bad, tmp_path / "o", seeds=upstream_seed_file) == 2
    err = capsys.readouterr().err
    assert "machine_generated_instructions.jsonl:1: metadata: missing field" in err
