"""`selfinstruct filter --metadata`: upstream's similarity fields on each kept record, against the
pool before it, exact where asked and an estimate only under its own name."""
from __future__ import annotations

import json

import numpy as np

from selfinstruct.generation.cli import main
from selfinstruct.generation.similarity.argsort_legacy import legacy_argsort_tail

from .conftest import ref_filter, ref_scores


def run(tmp_path, texts, *flags):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"instruction": t, "id": i}) + "\n" for i, t in enumerate(texts)),
                   encoding="utf-8")
    out = tmp_path / "kept.jsonl"
    assert main(["filter", str(src), "--out", str(out), "--no-progress", *flags]) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def kept_texts(texts):
    return [t for t, k in zip(texts, ref_filter(texts)) if k]


def test_full_is_upstreams_fields_exactly(tmp_path, corpus):
    texts = corpus[:60]
    rows = run(tmp_path, texts, "--metadata", "full")
    pool = kept_texts(texts)
    assert [r["instruction"] for r in rows] == pool
    for i, row in enumerate(rows):
        scores = ref_scores(pool[:i], pool[i])
        top = legacy_argsort_tail(np.array(scores, dtype=float), 10)[::-1] if scores else []
        assert row["most_similar"] == {pool[j]: scores[j] for j in top}
        assert row["avg_similarity_score"] == (float(np.mean(scores)) if scores else 0.0)


def test_top10_is_exact_then_names_its_estimate(tmp_path, corpus):
    texts = corpus[:80]
    rows = run(tmp_path, texts, "--metadata", "top10", "--exact-mean-max", "20", "--mean-sample", "7")
    pool = kept_texts(texts)
    for i, row in enumerate(rows):
        scores = ref_scores(pool[:i], pool[i])
        best = sorted(range(i), key=lambda j: (-scores[j], j))[:10]
        assert list(row["most_similar"].items()) == list({pool[j]: scores[j] for j in best}.items())
        if i <= 20:
            assert row["avg_similarity_score"] == (float(np.mean(scores)) if scores else 0.0)
            assert "avg_similarity_score_estimate" not in row
        else:  # never an unnamed estimate
            assert "avg_similarity_score" not in row
            assert row["avg_similarity_sample_size"] == 7
            picks = np.sort(np.random.default_rng(i).choice(i, 7, replace=False))
            assert row["avg_similarity_score_estimate"] == float(np.mean(np.array(scores)[picks]))


def test_no_metadata_leaves_records_unchanged(tmp_path, corpus):
    rows = run(tmp_path, corpus[:30])
    assert all(set(r) == {"instruction", "id"} for r in rows)
