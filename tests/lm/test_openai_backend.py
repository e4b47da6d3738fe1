"""The OpenAI-compatible client against the real local server: endpoints, parameters, retries,
faults, Retry-After, rate limits and cost."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from selfinstruct.generation.lm.base import LMRequest, SamplingParams
from doubles.localserver import FAULTS, LocalServer
from selfinstruct.generation.lm.openai_backend import OpenAICompatibleBackend

from .conftest import PLANTED_KEY, fast_client


def test_auto_api_picks_endpoint_by_request_kind(server, client):
    client.generate([LMRequest(prompt="hi"), LMRequest(messages=({"role": "user", "content": "hi"},))])
    assert sorted(a.path for a in server.arrivals) == ["/v1/chat/completions", "/v1/completions"]


def test_chat_api_wraps_a_prompt_as_one_user_message(server):
    with fast_client(server, api="chat") as lm:
        res = lm.generate([LMRequest(prompt="Name a colour.")])[0]
    assert res.ok
    assert server.arrivals[0].path == "/v1/chat/completions"
    assert server.received[0]["messages"] == [{"role": "user", "content": "Name a colour."}]


def test_completions_api_refuses_chat_messages_without_a_call(server):
    with fast_client(server, api="completions") as lm:
        res = lm.generate([LMRequest(messages=({"role": "user", "content": "x"},))])[0]
    assert not res.ok and "chat" in res.error
    assert server.received == []


def test_sampling_params_are_forwarded(server, client):
    params = SamplingParams(max_tokens=7, temperature=0.3, top_p=0.9, stop=("\n", "END"), presence_penalty=0.5,
                            frequency_penalty=0.25, n=2, logprobs=1, seed=5)
    res = client.generate([LMRequest(prompt="p", params=params)])[0]
    body = server.received[0]
    assert body["max_tokens"] == 7 and body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["stop"] == ["\n", "END"] and body["n"] == 2 and body["seed"] == 5 and body["logprobs"] == 1
    assert body["presence_penalty"] == 0.5 and body["frequency_penalty"] == 0.25
    assert len(res.choices) == 2 and res.choices[0].logprobs["tokens"]
    assert res.raw["choices"][0]["text"] == res.choices[0].text


def test_scripted_responder_and_finish_reasons(server):
    server.responder = lambda body: ("forced answer", "length") if "cut" in body["prompt"] else "plain. tail"
    with fast_client(server) as lm:
        a, b, c = lm.generate([LMRequest(prompt="cut me"), LMRequest(prompt="ok"),
                               LMRequest(prompt="ok", params=SamplingParams(stop=(".",)))])
    assert (a.text, a.finish_reason) == ("forced answer", "length")
    assert (b.text, b.finish_reason) == ("plain. tail", "stop")
    assert (c.text, c.finish_reason) == ("plain", "stop")


def test_usage_and_cost_are_summed_with_the_price_table(server, tmp_path):
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"models": {"gpt-4o-mini": {"prompt": 1000000, "completion": 2000000}}}))
    with fast_client(server, model="gpt-4o-mini-2024-07-18", price_table=str(table)) as lm:
        results = lm.generate([LMRequest(prompt="one two three")] * 3)
        results += lm.generate([LMRequest(prompt="four")])  # a second call keeps adding up
    prompt = sum(r.usage.prompt_tokens for r in results)
    completion = sum(r.usage.completion_tokens for r in results)
    assert (lm.usage.prompt_tokens, lm.usage.completion_tokens) == (prompt, completion) == (10, completion)
    assert lm.cost_usd == pytest.approx(prompt * 1.0 + completion * 2.0)


def test_unpriced_models_cost_nothing(client):
    client.generate([LMRequest(prompt="x")])
    assert client.usage.total_tokens > 0 and client.cost_usd == 0.0 and not client.priced


def test_generate_works_repeatedly_and_inside_a_running_loop(client):
    for _ in range(3):
        assert client.generate([LMRequest(prompt="again")])[0].ok

    async def from_async_code():
        return client.generate([LMRequest(prompt="inside")])

    assert asyncio.run(from_async_code())[0].ok


def test_concurrency_is_bounded_and_used(server):
    server.latency = 0.2
    with fast_client(server, concurrency=8) as lm:
        results = lm.generate([LMRequest(prompt=f"p{i}") for i in range(40)])
    assert all(r.ok for r in results)
    assert 4 <= server.max_in_flight <= 8  # overlapping, never past the bound


def test_retry_after_is_honoured():
    with LocalServer(script=["429"], retry_after=1) as srv:
        with fast_client(srv) as lm:
            res = lm.generate([LMRequest(prompt="x")])[0]
        first, retry = srv.arrivals
    assert res.ok and res.attempts == 2
    assert first.fault == "429" and retry.fault is None
    assert retry.time - first.time >= 1.0


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "length"])
def test_each_fault_is_retried_to_success(fault):
    with LocalServer(script=[fault, fault], retry_after=0.01, slow_seconds=1.0) as srv:
        with fast_client(srv, timeout=0.3) as lm:
            lm.local = False  # as a remote API: a timed-out request is sent again
            res = lm.generate([LMRequest(prompt="x")])[0]
        assert res.ok and res.attempts == 3, res.error
        assert srv.fault_counts[fault] == 2


def test_a_local_server_that_times_out_is_not_sent_the_work_again():
    with LocalServer(script=["timeout"], slow_seconds=1.0) as srv:
        with fast_client(srv, timeout=0.3) as lm:
            assert lm.local
            res = lm.generate([LMRequest(prompt="x")])[0]
        assert not res.ok and res.attempts == 1 and res.error.startswith("timeout")
        assert len(srv.received) == 1


def test_exhausted_retries_become_an_error_result_not_an_exception():
    with LocalServer(script=["503"] * 3) as srv:
        with fast_client(srv, max_retries=2, concurrency=1) as lm:
            bad, good = lm.generate([LMRequest(prompt="x"), LMRequest(prompt="y")])
    assert not bad.ok and bad.finish_reason == "error" and bad.attempts == 3 and "503" in bad.error
    assert good.ok and good.attempts == 1  # the rest of the batch goes on


def test_client_errors_are_not_retried():
    with LocalServer(require_api_key="sk-the-right-one") as srv:
        with fast_client(srv, api_key="sk-wrong") as lm:
            res = lm.generate([LMRequest(prompt="x")])[0]
    assert not res.ok and res.attempts == 1 and "401" in res.error


def test_thirty_percent_faults_batch_of_200_completes(capsys):
    with LocalServer(fault_rate=0.3, seed=7, retry_after=0.01, slow_seconds=1.5, latency=0.005) as srv:
        with fast_client(srv, timeout=1.0, concurrency=32) as lm:
            lm.local = False  # a flaky remote API, timeouts included
            results = lm.generate([LMRequest(prompt=f"request {i}", params=SamplingParams(max_tokens=8))
                                   for i in range(200)])
            stats = dict(lm.stats)
    ok = sum(r.ok for r in results)
    failed = sum(not r.ok for r in results)
    retried_ok = sum(r.ok and r.attempts > 1 for r in results)
    with capsys.disabled():
        print(f"\n200 requests, 30% faults: ok={ok} failed={failed} recovered_by_retry={retried_ok} "
              f"server_faults={dict(srv.fault_counts)} client_stats={stats}")
    assert ok + failed == 200 and len(results) == 200
    assert set(srv.fault_counts) >= set(FAULTS) - {"length"}  # every kind actually happened
    assert sum(srv.fault_counts.values()) >= 40
    assert retried_ok >= 40 and failed <= 10
    assert all(r.error for r in results if not r.ok)
    assert all(r.text for r in results if r.ok)


def test_rate_limit_paces_requests():
    with LocalServer() as srv:
        with fast_client(srv, requests_per_minute=600) as lm:  # 10/s after the burst
            lm._ensure_loop()
            bucket = lm._limiter.requests
            bucket.tokens, bucket.updated = 0.0, time.monotonic()  # start with an empty bucket
            lm.generate([LMRequest(prompt=str(i)) for i in range(4)])
        times = sorted(a.time for a in srv.arrivals)
    assert times[-1] - times[0] >= 0.25  # four requests at 10/s span at least three intervals


def test_missing_key_for_the_openai_endpoint_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="API key"):
        OpenAICompatibleBackend("gpt-4o-mini")


def test_key_is_sent(server, client):
    client.generate([LMRequest(prompt="x")])
    assert server.auth_headers == [f"Bearer {PLANTED_KEY}"]
    assert PLANTED_KEY not in repr(client)


def test_start_builds_the_client_before_the_first_request(server):
    lm = fast_client(server)
    try:
        assert lm._loop is None
        lm.start()
        loop = lm._loop
        assert loop is not None and lm._clients
        assert server.received == []  # nothing sent yet
        res = lm.generate([LMRequest(prompt="hello", params=SamplingParams(max_tokens=5))])[0]
        assert res.ok and lm._loop is loop  # the same loop serves the requests
    finally:
        lm.close()
