"""The decoding loop (generation/lm/decode.py): shared prompt heads, rows leaving and joining a
running batch. The pure planning functions are checked on plain lists; the loop itself on the
embedded SmolLM2, against the same requests decoded one per call (nothing shared)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfinstruct.generation.lm.base import LMRequest, SamplingParams
from selfinstruct.generation.lm.decode import order_for_sharing, shared_prefix_length, split_for_padding

HEAD = ("Read the question and answer it with one short sentence. Use plain words that a child "
        "understands, and do not repeat the question.\n\nQuestion: ")
QUESTIONS = ["Why is the sky blue?", "What do bees make?", "Where do fish live and why do they need water to breathe?",
             "How many legs does a spider have?", "What is ice?", "Why do we sleep at night instead of during the day?"]
OTHERS = ["The capital of France is", "Write a haiku about autumn leaves falling on a quiet river:"]


def test_shared_prefix_leaves_every_row_a_tail():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5]]) == 3
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the shorter row keeps one token
    assert shared_prefix_length([[1, 2], [3, 4]]) == 0
    assert shared_prefix_length([[1, 2, 3]]) == 0  # nothing to share with


def test_order_puts_rows_with_a_common_head_together_by_length():
    a = [7] * 10
    rows = [a + [1, 2, 3], [9, 9], a + [1], [5] * 12, a + [4, 4], [1]]
    order = order_for_sharing(rows, min_shared=8)
    assert order[:3] == [2, 4, 0]  # the run sharing `a`, shortest first
    assert sorted(order[3:], key=lambda i: len(rows[i])) == order[3:]  # the rest by length
    assert sorted(order) == list(range(len(rows)))


@given(st.lists(st.integers(1, 400), min_size=1, max_size=60))
def test_split_for_padding_bounds_waste_and_covers_every_row(lengths):
    pieces = split_for_padding(lengths, waste=0.25)
    assert sorted(k for p in pieces for k in p) == list(range(len(lengths)))
    for piece in pieces:
        real = sum(lengths[k] for k in piece)
        padded = len(piece) * max(lengths[k] for k in piece)
        assert padded <= 1.25 * real + 1e-9


def _alone(lm, reqs):
    return [lm.generate([r])[0] for r in reqs]


@pytest.fixture
def small_batches(embedded_lm):
    before = embedded_lm.batch_size
    embedded_lm.batch_size = 3  # fewer slots than requests: rows must join a running batch
    yield embedded_lm
    embedded_lm.batch_size = before


def test_continuous_batching_with_shared_heads_equals_one_per_call(small_batches):
    lm = small_batches
    params = SamplingParams(max_tokens=14, temperature=0.0)
    reqs = [LMRequest(prompt=HEAD + q + "\nAnswer:", params=params) for q in QUESTIONS]
    reqs += [LMRequest(prompt=p, params=params) for p in OTHERS]
    stats_before = dict(lm.decoder.stats)
    together = lm.generate(reqs)
    stats = {k: v - stats_before[k] for k, v in lm.decoder.stats.items()}
    alone = _alone(lm, reqs)
    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.finish_reason for r in together] == [r.finish_reason for r in alone]
    assert [r.usage.completion_tokens for r in together] == [r.usage.completion_tokens for r in alone]
    assert len({r.text for r in together}) == len(reqs)
    # The features ran: the head was prefilled once for several rows, rows were admitted while
    # others were running.
    assert stats["shared_tokens_saved"] > 0
    assert stats["joins"] > 0


def test_rows_finishing_early_leave_and_stop_strings_still_cut(small_batches):
    lm = small_batches
    reqs = [LMRequest(prompt=HEAD + q + "\nAnswer:", params=SamplingParams(max_tokens=n, temperature=0.0, stop=stop))
            for q, n, stop in zip(QUESTIONS, (2, 16, 5, 16, 1, 16), ((), (".",), (), ("\n",), (), ()))]
    together = lm.generate(reqs)
    alone = _alone(lm, reqs)
    assert [(r.text, r.finish_reason) for r in together] == [(r.text, r.finish_reason) for r in alone]
    assert together[0].usage.completion_tokens <= 2 and together[4].usage.completion_tokens == 1


def test_penalties_count_each_rows_own_tokens(small_batches):
    lm = small_batches
    params = SamplingParams(max_tokens=10, temperature=0.0, frequency_penalty=1.5, presence_penalty=0.5)
    reqs = [LMRequest(prompt=HEAD + q + "\nAnswer:", params=params) for q in QUESTIONS[:5]]
    reqs.append(LMRequest(prompt="1, 2, 3, 4,", params=params))
    together = lm.generate(reqs)
    assert [r.text for r in together] == [r.text for r in _alone(lm, reqs)]
    plain = lm.generate([LMRequest(prompt="1, 2, 3, 4,", params=SamplingParams(max_tokens=10, temperature=0.0))])[0]
    assert together[-1].text != plain.text


def test_seeded_sampling_and_logprobs_do_not_depend_on_the_batch(small_batches):
    lm = small_batches
    params = SamplingParams(max_tokens=8, temperature=0.8, top_p=0.9, seed=99, logprobs=2)
    reqs = [LMRequest(prompt=HEAD + q + "\nAnswer:", params=params) for q in QUESTIONS]
    together = lm.generate(reqs)
    alone = _alone(lm, reqs)
    assert [r.text for r in together] == [r.text for r in alone]
    for r, a in zip(together, alone):
        lp, la = r.choices[0].logprobs, a.choices[0].logprobs
        assert lp["tokens"] == la["tokens"]
        assert len(lp["token_logprobs"]) == r.usage.completion_tokens
        assert lp["token_logprobs"] == pytest.approx(la["token_logprobs"], abs=1e-3)
