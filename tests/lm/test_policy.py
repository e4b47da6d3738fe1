"""Pure parts: retry policy, Retry-After parsing, price table, backend choice, penalties, stops."""
from __future__ import annotations

import email.utils
import json
import random

import pytest
import torch

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.lm.base import Usage
from selfinstruct.generation.lm.config import BackendConfig
from selfinstruct.generation.lm.factory import resolve_backend_kind
from doubles.localserver import apply_stop, truncate_tokens
from selfinstruct.generation.lm.penalties import OpenAIPenaltyProcessor
from selfinstruct.generation.lm.pricing import load_price_table
from selfinstruct.generation.lm.retry import RetryPolicy, is_retryable_status, parse_retry_after
from selfinstruct.generation.lm.transformers_backend import cut_at_stop


def test_backoff_grows_is_capped_and_jittered():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(0)
    for attempt, nominal in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        waits = {policy.delay(attempt, rng=rng) for _ in range(20)}
        assert all(nominal / 2 <= w <= nominal for w in waits) and len(waits) > 1


def test_retry_after_wins_when_longer_and_is_capped():
    policy = RetryPolicy(base_delay=0.01, max_delay=0.1, max_retry_after=30)
    assert policy.delay(0, retry_after=2.0) == 2.0
    assert policy.delay(0, retry_after=500) == 30
    assert policy.delay(0, retry_after=0.0) <= 0.01


def test_parse_retry_after_forms():
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    when = email.utils.formatdate(1_000_010, usegmt=True)
    assert parse_retry_after({"Retry-After": when}, now=1_000_000) == pytest.approx(10.0)
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_retryable_statuses():
    assert all(is_retryable_status(s) for s in (408, 409, 429, 500, 502, 503, 504))
    assert not any(is_retryable_status(s) for s in (400, 401, 403, 404, 422))


def test_packaged_price_table_longest_prefix():
    table = load_price_table()
    assert table.price("gpt-4o-mini-2024-07-18") == table.models["gpt-4o-mini"]
    assert table.price("gpt-4o-2024-08-06") == table.models["gpt-4o"]
    assert table.price("my-local-llama") is None
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=500_000)
    p = table.models["gpt-4o-mini"]
    assert table.cost("gpt-4o-mini", usage) == pytest.approx(p.prompt + p.completion / 2)


def test_bad_price_table_is_an_input_error(tmp_path):
    bad = tmp_path / "prices.json"
    bad.write_text(json.dumps({"models": {"m": {"prompt": "cheap"}}}))
    with pytest.raises(InputError) as err:
        load_price_table(bad)
    assert err.value.field == "models.m" and str(bad) in str(err.value)
    with pytest.raises(InputError):
        load_price_table(tmp_path / "missing.json")


@pytest.mark.parametrize("config, env, kind", [
    (BackendConfig(), {}, "transformers"),
    (BackendConfig(), {"OPENAI_BASE_URL": "http://x/v1"}, "transformers"),  # the default stays local
    (BackendConfig(base_url="http://localhost:8000/v1"), {}, "openai"),
    (BackendConfig(model="gpt-4o-mini"), {}, "openai"),
    (BackendConfig(model="davinci-002"), {}, "openai"),
    (BackendConfig(model="o3-mini"), {}, "openai"),
    (BackendConfig(model="Qwen/Qwen2.5-0.5B-Instruct"), {}, "transformers"),
    (BackendConfig(model="Qwen/Qwen2.5-0.5B-Instruct"), {"OPENAI_BASE_URL": "http://x/v1"}, "openai"),
    (BackendConfig(model="gpt-4o", backend="transformers"), {}, "transformers"),
])
def test_backend_choice(monkeypatch, config, env, kind):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert resolve_backend_kind(config) == kind


def test_penalty_processor_matches_openai_formula():
    proc = OpenAIPenaltyProcessor(presence_penalty=0.5, frequency_penalty=0.25)
    prompt = torch.tensor([[3, 3, 3]])  # prompt tokens never count
    scores = torch.zeros(1, 6)
    assert torch.equal(proc(prompt, scores.clone()), scores)
    generated = torch.tensor([[3, 3, 3, 1, 2, 2]])
    out = proc(generated, torch.zeros(1, 6))
    assert out.tolist() == [[0.0, -0.75, -1.0, 0.0, 0.0, 0.0]]  # 1: 0.5+0.25; 2: 0.5+2*0.25


def test_stop_cutting_is_at_the_earliest_stop():
    assert cut_at_stop("a b\nc END d", ["END", "\n"]) == ("a b", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)
    assert apply_stop("one. two", ["."]) == ("one", True)
    assert truncate_tokens("a b c d", 2) == ("a b", True)
    assert truncate_tokens("a b", 2) == ("a b", False)
