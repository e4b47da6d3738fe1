"""Decoding does what its settings mean, checked against the model itself (embedded SmolLM2).

- Greedy: our loop (decode.py, through the transformers backend, prompts batched together)
  gives the very tokens of `model.generate(do_sample=False)` on each prompt alone.
- Sampling: the first token drawn many times at temperature T and top-p P follows the
  distribution computed directly from the model's logits (softmax(logits / T), cut to the
  nucleus, renormalised): total variation distance under a tolerance, nothing outside the
  nucleus ever drawn, and the reported logprobs are that distribution's. Right, the distance
  is 0.035-0.05 (tolerance 0.09); without the temperature step it is ~0.2 and tokens outside
  the nucleus are drawn; without the top-p step ~10% of the draws fall outside the nucleus.
- Penalties: greedy decoding with presence/frequency penalties equals a direct loop that
  subtracts `frequency * count + presence * (count > 0)` over the generated tokens.
"""
from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from selfinstruct.generation.lm.base import LMRequest, SamplingParams
from selfinstruct.generation.lm.decode import DecodeRow

GREEDY_PROMPTS = ["The capital of France is", "def fibonacci(n):\n   ",
                  "Write a haiku about autumn leaves falling on a quiet river:"]
GREEDY_TOKENS = 12

# A prompt whose first token has a small nucleus (12 tokens at T=0.7, P=0.9), so a thousand
# draws estimate its distribution well, and where temperature and top-p both move it a lot.
SAMPLE_PROMPT = "Here is a list of animals: cat, dog,"
TEMPERATURE, TOP_P = 0.7, 0.9
DRAWS = 1000
TVD_TOLERANCE = 0.09


@pytest.fixture
def wide(embedded_lm):
    """The embedded backend with room for many rows per batch (restored afterwards)."""
    before = embedded_lm.batch_size
    embedded_lm.batch_size = 250
    yield embedded_lm
    embedded_lm.batch_size = before


def _next_logits(model, ids: list[int]) -> torch.Tensor:
    """The model's own next-token logits after `ids`: one plain forward, no cache, no batch."""
    with torch.inference_mode():
        logits = model(torch.tensor([ids], device=model.device)).logits[0, -1]
    return logits.float().cpu().clone()  # a normal tensor, not an inference one


def nucleus_distribution(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """softmax(logits / T), keeping the most likely tokens until their mass reaches top_p (the
    token that crosses it included), renormalised."""
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_probs, order = probs.sort(descending=True)
    before = sorted_probs.cumsum(0) - sorted_probs  # mass of the more likely tokens
    kept = order[before < top_p]
    out = torch.zeros_like(probs)
    out[kept] = probs[kept]
    return out / out.sum()


def total_variation(p: dict, q: dict) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def test_greedy_equals_model_generate(wide):
    lm = wide
    tok, model = lm.tokenizer, lm.model
    eos = sorted(lm.eos_ids)
    params = SamplingParams(max_tokens=GREEDY_TOKENS, temperature=0.0)
    ours = lm.generate([LMRequest(prompt=p, params=params) for p in GREEDY_PROMPTS])
    # The loop itself, token by token (rows decoded together, as the backend does).
    rows = [DecodeRow(lm.encode(LMRequest(prompt=p, params=params))) for p in GREEDY_PROMPTS]
    decoded = lm.decoder.run(rows, capacity=len(rows), max_new_tokens=GREEDY_TOKENS, greedy=True)
    for prompt, result, row, d in zip(GREEDY_PROMPTS, ours, rows, decoded):
        with torch.inference_mode():
            out = model.generate(torch.tensor([row.ids], device=model.device), do_sample=False,
                                 max_new_tokens=GREEDY_TOKENS, pad_token_id=tok.pad_token_id, eos_token_id=eos,
                                 repetition_penalty=1.0, top_k=None, top_p=None, temperature=None)
        theirs = out[0, len(row.ids):].tolist()
        for k, t in enumerate(theirs):  # generate pads after EOS; ours ends at it
            if t in lm.eos_ids:
                theirs = theirs[:k + 1]
                break
        assert d.tokens == theirs, prompt
        expected = tok.decode([t for t in theirs if t not in lm.eos_ids], skip_special_tokens=True)
        assert result.ok and result.text == expected, prompt


def _sample_first_tokens(lm, seed: int) -> tuple[Counter, list]:
    params = SamplingParams(max_tokens=1, temperature=TEMPERATURE, top_p=TOP_P, n=DRAWS, seed=seed, logprobs=0)
    result = lm.generate([LMRequest(prompt=SAMPLE_PROMPT, params=params)])[0]
    assert result.ok and len(result.choices) == DRAWS
    draws = [(c.logprobs["tokens"][0], c.logprobs["token_logprobs"][0]) for c in result.choices]
    return Counter(t for t, _ in draws), draws


def test_sampling_follows_temperature_and_nucleus(wide):
    lm = wide
    tok = lm.tokenizer
    logits = _next_logits(lm.model, lm.encode(LMRequest(prompt=SAMPLE_PROMPT)))
    target = nucleus_distribution(logits, TEMPERATURE, TOP_P)
    nucleus = {tok.decode([i]): float(target[i]) for i in target.nonzero().flatten().tolist()}
    assert len(nucleus) == int((target > 0).sum()), "nucleus tokens must decode to distinct strings"
    assert 5 <= len(nucleus) <= 40  # the prompt still makes an informative test

    counts, draws = _sample_first_tokens(lm, seed=1234)
    outside = {t: n for t, n in counts.items() if t not in nucleus}
    assert not outside, f"drawn outside the top-p nucleus: {outside}"
    empirical = {t: n / DRAWS for t, n in counts.items()}
    tvd = total_variation(empirical, nucleus)
    assert tvd < TVD_TOLERANCE, f"total variation {tvd:.3f} from softmax(logits/T) cut at top_p"
    # The logprobs reported are those of the distribution sampled from.
    for token, logprob in draws[:50]:
        assert logprob == pytest.approx(math.log(nucleus[token]), abs=2e-3), token


@pytest.mark.parametrize("presence, frequency", [(3.0, 0.0), (0.0, 2.0), (1.0, 1.0)])
def test_penalties_equal_a_direct_computation(embedded_lm, presence, frequency):
    lm = embedded_lm
    steps = 10
    prompt = "The cat sat on the mat. The cat"  # plain greedy repeats " was happy. The cat"
    params = SamplingParams(max_tokens=steps, temperature=0.0, presence_penalty=presence, frequency_penalty=frequency)
    result = lm.generate([LMRequest(prompt=prompt, params=params)])[0]

    ids = lm.encode(LMRequest(prompt=prompt))
    generated: list[int] = []
    for _ in range(steps):
        logits = _next_logits(lm.model, ids + generated)
        for token, count in Counter(generated).items():  # prompt tokens never count
            logits[token] -= frequency * count + presence
        token = int(logits.argmax())
        generated.append(token)
        if token in lm.eos_ids:
            break
    expected = lm.tokenizer.decode([t for t in generated if t not in lm.eos_ids], skip_special_tokens=True)
    assert result.ok and result.text == expected
    plain = lm.generate([LMRequest(prompt=prompt, params=SamplingParams(max_tokens=steps, temperature=0.0))])[0]
    assert plain.text != expected  # the penalties did change the text
