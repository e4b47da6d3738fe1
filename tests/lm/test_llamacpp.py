"""The OpenAI-compatible backend against a real third-party server: llama.cpp's (xllamacpp)
serving the embedded GGUF. What differs from OpenAI is documented in docs/backends.md."""
from __future__ import annotations

import json

import pytest

from selfinstruct.generation import cli
from selfinstruct.generation.lm.base import LMRequest, SamplingParams
from selfinstruct.generation.lm.openai_backend import OpenAICompatibleBackend

pytestmark = pytest.mark.timeout(600)

LIST = "Come up with a series of tasks:\n1. Write a poem about the sea.\n2. Translate a sentence into French.\n3."


@pytest.fixture(scope="module")
def backend(llamacpp):
    lm = OpenAICompatibleBackend("smollm2", base_url=llamacpp.base_url, api_key="sk-none", api="completions",
                                 concurrency=2, max_retries=0)
    yield lm
    lm.close()


def _one(lm, **params):
    prompt = params.pop("prompt", LIST)
    return lm.generate([LMRequest(prompt=prompt, params=SamplingParams(**params))])[0]


def test_a_string_prompt_gets_text_usage_and_a_length_finish(backend):
    res = _one(backend, max_tokens=12, temperature=0.0)
    assert res.ok and res.text.strip()
    assert res.finish_reason == "length" and res.usage.completion_tokens == 12 and res.usage.prompt_tokens > 10


def test_stop_strings_end_the_text_before_them(backend):
    res = _one(backend, max_tokens=60, temperature=0.0, stop=("\n",))
    assert res.ok and res.finish_reason == "stop" and "\n" not in res.text


def test_n_gives_several_choices(backend):
    res = _one(backend, max_tokens=8, temperature=0.9, n=2, seed=1)
    assert res.ok and len(res.choices) == 2


def test_logprobs_come_back_in_llama_cpps_own_shape(backend):
    res = _one(backend, max_tokens=4, temperature=0.0, logprobs=1)
    lp = res.choices[0].logprobs
    assert lp  # llama.cpp answers {"content": [{token, logprob, top_logprobs}]}, not OpenAI's lists
    assert "content" in lp or "token_logprobs" in lp


def test_a_list_prompt_is_answered_per_prompt(llamacpp):
    lm = OpenAICompatibleBackend("smollm2", base_url=llamacpp.base_url, api_key="sk-none", api="completions",
                                 concurrency=2, max_retries=0, prompts_per_request=3)
    try:
        prompts = [LIST, "Q: What is the capital of France?\nA:", "Write one word:"]
        packed = lm.generate([LMRequest(prompt=p, params=SamplingParams(max_tokens=6, temperature=0.0)) for p in prompts])
        assert lm.stats["packs"] == 1 and all(r.ok and r.text for r in packed)
        assert all(r.usage.completion_tokens >= 1 for r in packed)
    finally:
        lm.close()


def test_chat_messages(llamacpp):
    lm = OpenAICompatibleBackend("smollm2", base_url=llamacpp.base_url, api_key="sk-none", api="chat", max_retries=0)
    try:
        res = lm.generate([LMRequest(messages=({"role": "user", "content": "Say hello."},),
                                     params=SamplingParams(max_tokens=8, temperature=0.0))])[0]
        assert res.ok and res.text.strip() and res.usage.prompt_tokens > 0
    finally:
        lm.close()


def test_a_prompt_longer_than_the_context_is_one_clear_failure(backend):
    res = _one(backend, prompt="word " * 9000, max_tokens=4)
    assert not res.ok and res.error.startswith("http_400") and "context" in res.error


def test_generate_end_to_end_with_more_requests_than_slots(tmp_path, llamacpp, seed_file):
    out = tmp_path / "run"
    code = cli.main(["generate", "--out", str(out), "--model", "smollm2-llamacpp", "--base-url", llamacpp.base_url,
                     "--api", "completions", "--api-key", "sk-none", "--num-instructions", "3", "--concurrency", "4",
                     "--request-max-tokens", "48", "--seed-tasks", str(seed_file), "--no-progress", "--no-summary",
                     "--max-empty-rounds", "40"])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["bootstrap"]["kept"] >= 3
    assert (out / "finetuning" / "finetuning_prompt_completion.jsonl").exists()
