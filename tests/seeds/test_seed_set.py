"""Quality gates for the project's own 175 seed tasks (seeds/seed_tasks.jsonl).

The seed set steers every generated dataset, so these tests guard the properties the paper's
method relies on: the right shape and mix (175 tasks, enough classification, about a third
without input), instructions that survive the pipeline's own heuristic filters, no near-duplicate
instructions inside the set, no paraphrase of the upstream seeds, and no leakage of the
user-oriented evaluation instructions. Similarity is ROUGE-L F-measure from `rouge_score`
(rougeL, default tokenizer, no stemming): the same measure the pipeline filters with.

Scoring all 175x175 + 175x175 + 175x252 pairs with rouge_score takes tens of seconds on a busy
machine, so pairs are first screened with a bag-of-words bound that can never be lower than the
exact score (the LCS of two token lists is at most the size of their multiset intersection);
only pairs whose bound reaches the threshold are scored exactly. `test_bound_never_below_exact`
checks that claim on real pairs so the screen cannot hide an offender.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from rouge_score import rouge_scorer, tokenize

from selfinstruct.generation.pipeline.heuristics import heuristic_rejection
from selfinstruct.generation.seeds import SeedTask, default_seed_path, load_seed_tasks

N_TASKS = 175
MIN_CLASSIFICATION = 25
EMPTY_INPUT_SHARE = (0.28, 0.40)
WITHIN_SET_LIMIT = 0.7  # no pair inside the set may reach this
UPSTREAM_LIMIT = 0.7  # no instruction may reach this against an upstream seed
USER_ORIENTED_LIMIT = 0.5  # no instruction may reach this against an evaluation instruction
MAX_LABEL_WORDS = 3


@pytest.fixture(scope="module")
def tasks() -> list[SeedTask]:
    return load_seed_tasks()


@pytest.fixture(scope="module")
def scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def _instructions(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [(rec["id"], rec["instruction"]) for rec in map(json.loads, fh) if rec]


def _bag(text: str) -> tuple[Counter, int]:
    tokens = tokenize.tokenize(text, None)
    return Counter(tokens), len(tokens)


def _bound(a: tuple[Counter, int], b: tuple[Counter, int]) -> float:
    """Upper bound on ROUGE-L F: LCS <= multiset overlap, and F = 2*LCS/(len_a+len_b)."""
    total = a[1] + b[1]
    return 0.0 if total == 0 else 2 * sum((a[0] & b[0]).values()) / total


def _offenders(scorer, left, right, limit, *, same_set=False):
    """Pairs (left_id, right_id, score) with exact ROUGE-L F >= limit, worst first."""
    right_bags = [_bag(text) for _, text in right]
    found = []
    for i, (lid, ltext) in enumerate(left):
        lbag = _bag(ltext)
        start = i + 1 if same_set else 0
        for j in range(start, len(right)):
            if _bound(lbag, right_bags[j]) < limit:
                continue
            rid, rtext = right[j]
            score = scorer.score(rtext, ltext)["rougeL"].fmeasure
            if score >= limit:
                found.append((lid, rid, round(score, 4)))
    return sorted(found, key=lambda x: -x[2])


def _describe(offenders, limit):
    lines = [f"  {a} vs {b}: ROUGE-L {s} >= {limit}" for a, b, s in offenders[:20]]
    more = f"\n  ... and {len(offenders) - 20} more" if len(offenders) > 20 else ""
    return "\n".join(lines) + more


# --- shape and mix ---------------------------------------------------------------------------


def test_packaged_file_is_the_default(tasks):
    assert default_seed_path().name == "seed_tasks.jsonl"
    assert default_seed_path().is_file()
    assert len(tasks) == N_TASKS, f"expected {N_TASKS} seed tasks, found {len(tasks)}"


def test_ids_in_order(tasks):
    wrong = [(k, t.id) for k, t in enumerate(tasks) if t.id != f"seed_task_{k}"]
    assert not wrong, f"ids out of order (position, id): {wrong[:10]}"


def test_names_are_unique_snake_case_slugs(tasks):
    bad = [t.id for t in tasks if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", t.name)]
    assert not bad, f"names that are not snake_case slugs: {bad}"
    dupes = [n for n, c in Counter(t.name for t in tasks).items() if c > 1]
    assert not dupes, f"duplicate names: {dupes}"


def test_one_complete_instance_each(tasks):
    bad = [t.id for t in tasks if len(t.instances) != 1 or not t.instances[0].output.strip()]
    assert not bad, f"tasks without exactly one instance with a non-empty output: {bad}"
    same = [t.id for t in tasks if t.instances[0].input.strip() == t.instances[0].output.strip()]
    assert not same, f"input equals output: {same}"


def test_enough_classification_tasks(tasks):
    n = sum(t.is_classification for t in tasks)
    assert n >= MIN_CLASSIFICATION, f"only {n} classification tasks; need >= {MIN_CLASSIFICATION}"


def test_empty_input_share(tasks):
    n_empty = sum(not t.instances[0].input.strip() for t in tasks)
    share = n_empty / len(tasks)
    lo, hi = EMPTY_INPUT_SHARE
    assert lo <= share <= hi, f"{n_empty}/{len(tasks)} = {share:.1%} tasks have an empty input; want {lo:.0%}-{hi:.0%}"


def test_classification_outputs_are_labels_named_in_the_task(tasks):
    """A label must be short and spelled out in the instruction, so the label set is visible to
    whoever (or whatever model) reads the task, and generated classification tasks imitate that."""
    bad = []
    for t in (t for t in tasks if t.is_classification):
        label = t.instances[0].output.strip()
        where = t.instruction.lower()
        if len(label.split()) > MAX_LABEL_WORDS or not re.search(rf"\b{re.escape(label.lower())}\b", where):
            bad.append((t.id, label))
    assert not bad, f"classification outputs that are not short labels named in the task: {bad}"


# --- the pipeline's own filters --------------------------------------------------------------


def test_instructions_pass_heuristic_filters(tasks):
    rejected = [(t.id, heuristic_rejection(t.instruction)) for t in tasks]
    rejected = [(i, why) for i, why in rejected if why is not None]
    assert not rejected, f"instructions the pipeline's heuristics would reject: {rejected}"


def test_instructions_already_in_prompt_form(tasks):
    """The bootstrap prompt collapses whitespace and strips a trailing ':'; seeds already are so."""
    bad = [t.id for t in tasks if t.instruction != " ".join(t.instruction.split()) or t.instruction.endswith(":")]
    assert not bad, f"instructions with extra whitespace or a trailing colon: {bad}"


# --- similarity ------------------------------------------------------------------------------


def test_bound_never_below_exact(tasks, upstream_seed_file, scorer):
    ours = [t.instruction for t in tasks]
    theirs = [text for _, text in _instructions(upstream_seed_file)]
    checked = 0
    for a in ours[::7]:
        for b in theirs[::5] + ours[1::9]:
            exact = scorer.score(b, a)["rougeL"].fmeasure
            assert _bound(_bag(a), _bag(b)) >= exact - 1e-12, (a, b)
            checked += 1
    assert checked > 500


def test_no_near_duplicates_within_set(tasks, scorer):
    items = [(t.id, t.instruction) for t in tasks]
    bad = _offenders(scorer, items, items, WITHIN_SET_LIMIT, same_set=True)
    assert not bad, "near-duplicate seed instructions:\n" + _describe(bad, WITHIN_SET_LIMIT)


def test_not_a_paraphrase_of_upstream_seeds(tasks, upstream_seed_file, scorer):
    items = [(t.id, t.instruction) for t in tasks]
    bad = _offenders(scorer, items, _instructions(upstream_seed_file), UPSTREAM_LIMIT)
    assert not bad, "seed instructions too close to the upstream seed set:\n" + _describe(bad, UPSTREAM_LIMIT)


def test_no_leakage_of_user_oriented_eval(tasks, user_oriented_file, scorer):
    items = [(t.id, t.instruction) for t in tasks]
    bad = _offenders(scorer, items, _instructions(user_oriented_file), USER_ORIENTED_LIMIT)
    assert not bad, "seed instructions too close to the user-oriented evaluation set:\n" + _describe(
        bad, USER_ORIENTED_LIMIT
    )


def test_screen_catches_a_planted_near_duplicate(tasks, scorer):
    """The screened search must still find a real offender, with its id and score."""
    items = [(t.id, t.instruction) for t in tasks[:20]]
    planted = [("planted", tasks[3].instruction.replace(".", " now."))]
    bad = _offenders(scorer, planted, items, WITHIN_SET_LIMIT)
    assert bad and bad[0][:2] == ("planted", tasks[3].id) and bad[0][2] >= WITHIN_SET_LIMIT
