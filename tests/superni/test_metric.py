"""The metric against an independent, direct rouge_score implementation, number by number."""
from __future__ import annotations

import random
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from selfinstruct.evaluation.superni.metric import Reference, Scorer, compute_metrics, lcs_length, normalize_answer


# ---- the direct version, written from the spec, sharing no code with the package ----------
def direct_normalize(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    return " ".join(s.split())


def direct_scores(preds: dict, rows: list[dict], scorer=None):
    scorer = scorer or rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    per = []
    for row in rows:
        pred = preds.get(row["id"], "")
        em = max(float(direct_normalize(pred) == direct_normalize(r)) for r in row["references"])
        rl = max(scorer.score(target=r, prediction=pred)["rougeL"].fmeasure for r in row["references"])
        per.append((row, em, rl))

    def avg(items):
        em = sum(e for _, e, _ in items)
        rl = sum(r for _, _, r in items)
        return round(100.0 * em / len(items), 4), round(100.0 * rl / len(items), 4)

    by_task, by_cat = {}, {}
    for item in per:
        by_task.setdefault(item[0]["task_id"], []).append(item)
        by_cat.setdefault(item[0]["task_category"].lower().replace(" ", "_"), []).append(item)
    return avg(per), {k: avg(v) for k, v in by_task.items()}, {k: avg(v) for k, v in by_cat.items()}, per


def perturb(text: str, rnd: random.Random) -> str:
    words = text.split()
    choice = rnd.randrange(8)
    if choice == 0:
        return text
    if choice == 1:
        return text.upper() + "!!"
    if choice == 2 and words:
        return " ".join(words[: rnd.randint(0, len(words))])
    if choice == 3:
        rnd.shuffle(words)
        return " ".join(words)
    if choice == 4:
        return ""
    if choice == 5:
        return text + " and then the answers were running quickly, generously."
    if choice == 6:
        return re.sub(r"[aeiou]", "", text)
    return "The " + text.replace(" ", "  ,") + " (done)"


def to_refs(rows):
    return [Reference(r["id"], tuple(r["references"]), r["task_id"], r["task_category"]) for r in rows]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_number_matches_direct_rouge_score(reference_rows, seed):
    rnd = random.Random(seed)
    preds = {}
    for row in reference_rows:
        if rnd.random() < 0.05:
            continue  # missing -> scored as ""
        preds[row["id"]] = perturb(rnd.choice(row["references"]), rnd)
    (em, rl), by_task, by_cat, per = direct_scores(preds, reference_rows)
    got = Scorer().score(preds, to_refs(reference_rows))
    assert (got.exact_match, got.rougeL) == (em, rl)
    assert got.missing == len(reference_rows) - len(preds)
    assert {k: (v.exact_match, v.rougeL) for k, v in got.per_task.items()} == by_task
    assert {k: (v.exact_match, v.rougeL) for k, v in got.per_category.items()} == by_cat
    assert [(e, r) for _, e, r in got.per_instance] == [(e, r) for _, e, r in per]
    assert 0 < got.rougeL < 100 and got.per_category["question_rewriting"].count == 100


def test_gold_predictions_score_100_and_max_over_references(reference_rows):
    multi = [r for r in reference_rows if len(r["references"]) > 1]
    assert multi, "the sample has multi-reference rows"
    # predicting the *last* reference must still give 100: max over references
    preds = {r["id"]: r["references"][-1] for r in reference_rows}
    got = Scorer().score(preds, to_refs(reference_rows))
    assert got.exact_match == 100.0 and got.rougeL == 100.0 and got.missing == 0


def test_all_missing_scores_zero(reference_rows):
    got = Scorer().score({}, to_refs(reference_rows))
    assert got.rougeL == 0.0 and got.exact_match == 0.0 and got.missing == len(reference_rows)


def test_normalizer_keeps_articles_and_squeezes():
    assert normalize_answer("  The  Cat, sat!\n") == "the cat sat"
    assert normalize_answer("An apple") == direct_normalize("An apple") == "an apple"
    assert compute_metrics(["the cat"], [["cat"]])["exact_match"] == 0.0  # articles are not removed


def test_stemming_is_on():
    # "running" and "runs" stem to "run": ROUGE-L 100 only with stemming
    assert compute_metrics(["cats running"], [["cat runs"]])["rougeL"] == 100.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=30), st.lists(st.integers(0, 5), max_size=30))
def test_bit_parallel_lcs_equals_dp(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
    assert lcs_length(a, b) == table[-1][-1]


class _BPEWrapper:
    """The xlingual tokenizer as the reference implementation defines it, for rouge_scorer."""

    def __init__(self, tok):
        self.tok = tok

    def tokenize(self, text):
        return [t.lstrip("Ġ") for t in self.tok.tokenize(text)]


def test_xlingual_tokenizer_matches_direct(reference_rows, tiny_bpe_dir):
    from transformers import AutoTokenizer

    rnd = random.Random(5)
    rows = reference_rows[::12]
    preds = {r["id"]: perturb(r["references"][0], rnd) for r in rows}
    direct = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_BPEWrapper(AutoTokenizer.from_pretrained(tiny_bpe_dir)))
    (em, rl), *_ = direct_scores(preds, rows, direct)
    got = Scorer(xlingual=True, xlingual_tokenizer=str(tiny_bpe_dir)).score(preds, to_refs(rows))
    assert (got.exact_match, got.rougeL) == (em, rl)
    default = Scorer().score(preds, to_refs(rows))
    assert default.rougeL != got.rougeL  # the option really switches tokenizers


def test_xlingual_unavailable_is_a_clear_error(tmp_path):
    from selfinstruct.generation.errors import InputError

    with pytest.raises(InputError, match="xlingual tokenizer"):
        compute_metrics(["a"], [["a"]], xlingual=True, xlingual_tokenizer=str(tmp_path / "no-such-tokenizer"))
