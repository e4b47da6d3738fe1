"""Strategies and the reference implementation the similarity tests compare against.

The reference is the plain rouge_score loop upstream Self-Instruct runs; every property test
checks the index against it, never against a re-derivation of our own.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st
from rouge_score import rouge_scorer
from selfinstruct.generation.similarity.argsort_legacy import legacy_argsort_tail

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def ref_score(target: str, prediction: str) -> float:
    return SCORER.score(target, prediction)["rougeL"].fmeasure


def ref_scores(pool: list[str], text: str) -> list[float]:
    """Upstream's list: scorer.score(pool instruction, candidate) for the whole pool, in order."""
    return [ref_score(p, text) for p in pool]


def ref_most_similar(pool: list[str], scores: list[float], k: int = 10) -> dict[str, float]:
    """Upstream's expression, verbatim."""
    return {pool[i]: scores[i] for i in legacy_argsort_tail(np.array(scores, dtype=float), k)[::-1]}


def ref_filter(texts: list[str], pool: list[str] = (), threshold: float = 0.7, inclusive: bool = False) -> list[bool]:
    pool = list(pool)
    kept = []
    for t in texts:
        scores = ref_scores(pool, t)
        top = max(scores) if scores else None
        dup = top is not None and (top >= threshold if inclusive else top > threshold)
        kept.append(not dup)
        if not dup:
            pool.append(t)
    return kept



def assert_decisions_are_upstream(candidates: list[str], seeds: list[str], decisions: list,
                                  threshold: float, inclusive: bool) -> None:
    """Verdicts as the rouge_score loop gives them, and each rejection's nearest entry and score."""
    assert [d.kept for d in decisions] == ref_filter(candidates, seeds, threshold, inclusive)
    pool = list(seeds)
    for text, d in zip(candidates, decisions):
        if d.kept:
            pool.append(text)
        else:
            scores = ref_scores(pool, text)
            assert d.score == max(scores) and d.index == int(np.argmax(scores))


def assert_agrees_with_whole_rows(stream: list[str], decisions: list, threshold: float = 0.7) -> None:
    """Every verdict, nearest entry and score as a whole row of scores (no pruning) gives them,
    with both verdicts well exercised."""
    from selfinstruct.generation.similarity import RougeLIndex

    brute = RougeLIndex(threshold=threshold)
    for text, d in zip(stream, decisions):
        row = brute.scores(text)
        if len(row) and row.max() > threshold:
            assert (d.kept, d.index, d.score) == (False, int(np.argmax(row)), float(row.max()))
        else:
            assert d.kept
            brute.add(text)
    rejected = sum(not d.kept for d in decisions)
    assert 0.2 * len(stream) < rejected < 0.7 * len(stream)

# Few words so texts overlap a lot (hard cases for pruning); separators that rouge_score's
# tokenizer treats in every possible way: ASCII punctuation, whitespace, digits glued to words,
# non-ASCII letters (dropped), and letters whose lower() is ASCII (kept).
WORDS = ["the", "a", "cat", "Cat", "CAT", "sat", "on", "mat", "write", "poem", "about", "dogs",
         "2", "42", "x1", "naïve", "café", "İstanbul", "\u212aelvin", "straße", "ﬁle", "日本", "emoji😀"]
SEPS = [" ", "  ", ",", ", ", ".", "-", "_", "'", "\n", "\t", "\u00a0", "/", "…", "—", "", "!?", "é"]


@st.composite
def texts(draw, max_words: int = 14, words=WORDS):
    n = draw(st.integers(0, max_words))
    out = []
    for _ in range(n):
        out.append(draw(st.sampled_from(words)))
        out.append(draw(st.sampled_from(SEPS)))
    return "".join(out)


any_text = st.one_of(texts(), st.text(max_size=60), texts(max_words=60, words=WORDS[:6]))


@pytest.fixture(scope="session")
def corpus(maybe_shared) -> list[str]:
    """400 instruction-like sentences: the bench corpus's first where ../shared has it, else the
    project's own seed tasks' instance inputs and outputs, then their instructions."""
    import json

    shared = maybe_shared
    if shared is not None:
        path = shared / "bench" / "instruction_corpus_50k.jsonl"
        with path.open(encoding="utf-8") as fh:
            return [json.loads(next(fh))["instruction"] for _ in range(400)]
    from selfinstruct.generation.seeds import load_seed_tasks

    tasks = load_seed_tasks(None)
    # instance texts first: tests filter corpus[:n] against the seed instructions themselves
    texts = [t for task in tasks for inst in task.instances for t in (inst.input, inst.output) if t.strip()]
    return (texts + [task.instruction for task in tasks])[:400]
