"""The issue 19 benchmark corpus generator (benchmarks/million_corpus.py): deterministic, the size
asked for, edit operations that do what they say, and a realistic share of near-duplicates."""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from selfinstruct.generation.similarity import RougeLIndex

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import million_corpus as mc  # noqa: E402

VOCAB = ["alpha", "beta", "gamma"]


def is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(w in it for w in short)


def test_build_is_deterministic_and_exactly_sized(corpus):
    originals = corpus[:60]
    a = mc.build(originals, 1000, seed=3)
    assert a == mc.build(originals, 1000, seed=3)
    assert a != mc.build(originals, 1000, seed=4)
    assert len(a) == 1000 and len(mc.build(originals, 1013, seed=3)) == 1013
    assert set(originals[:50]) <= set(a)  # one original per family of FAMILY, verbatim
    assert sorted(a.index(o) for o in originals[:50]) != list(range(0, 1000, mc.FAMILY))  # shuffled
    with pytest.raises(ValueError):
        mc.build(originals[:10], 1000)


def test_each_operation_does_what_it_says():
    words = ["w0", "w1", "w2", "w3", "w4"]
    for seed in range(30):
        rng = random.Random(seed)
        dropped = mc.apply(words, "drop", VOCAB, rng)
        assert len(dropped) == 4 and is_subsequence(dropped, words)
        swapped = mc.apply(words, "swap", VOCAB, rng)
        diff = [i for i in range(5) if swapped[i] != words[i]]
        assert sorted(swapped) == sorted(words) and len(diff) == 2 and diff[1] == diff[0] + 1
        inserted = mc.apply(words, "insert", VOCAB, rng)
        assert len(inserted) == 6 and is_subsequence(words, inserted)
        assert (set(inserted) - set(words)) <= set(VOCAB) and set(inserted) - set(words)
        substituted = mc.apply(words, "substitute", VOCAB, rng)
        changed = [i for i in range(5) if substituted[i] != words[i]]
        assert len(substituted) == 5 and len(changed) == 1 and substituted[changed[0]] in VOCAB
    assert len(mc.apply(["one"], "drop", VOCAB, random.Random(0))) == 2  # too short: an insertion
    with pytest.raises(ValueError):
        mc.apply(words, "shuffle", VOCAB, random.Random(0))


def test_edit_applies_exactly_the_operations_it_reports():
    rng = random.Random(5)
    out, ops = mc.edit("a b c d e f g h".split(), 6, VOCAB, rng)
    assert len(ops) == 6 and set(ops) <= set(mc.OPERATIONS)
    assert len(out) == 8 - ops.count("drop") + ops.count("insert")


def test_near_duplicate_share_at_0_7_is_realistic(corpus):
    texts = mc.build(corpus, 20 * len(corpus) // 2, seed=19)
    index = RougeLIndex(threshold=0.7)
    share = 1 - sum(index.admit(t).kept for t in texts) / len(texts)
    assert 0.30 <= share <= 0.50, share


def test_corpus_file_is_generated_once_into_the_cache(tmp_path, monkeypatch, corpus):
    monkeypatch.setenv("SELFINSTRUCT_BENCH_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "source.jsonl"
    source.write_text("".join(json.dumps({"instruction": t}) + "\n" for t in corpus[:30]), encoding="utf-8")
    path = mc.corpus_path(400, seed=7, source=source)
    assert path.parent == tmp_path / "cache"
    assert mc.load_originals(path) == mc.build(corpus[:30], 400, seed=7)
    stamp = path.stat().st_mtime_ns
    assert mc.corpus_path(400, seed=7, source=source) == path and path.stat().st_mtime_ns == stamp
    source.write_text(source.read_text(encoding="utf-8") + json.dumps({"instruction": "more"}) + "\n")
    assert mc.corpus_path(400, seed=7, source=source) != path  # a changed source is a new corpus
