"""List prompts on the local server, and prompt packing in the OpenAI-compatible client:
several completions requests with the same params sent as one HTTP request."""
from __future__ import annotations

import json

import pytest

from selfinstruct.generation.lm.base import LMRequest, SamplingParams
from doubles.localserver import LocalServer, count_tokens
from selfinstruct.generation.lm.openai_backend import OpenAICompatibleBackend
from selfinstruct.generation.lm.openai_wire import apportion, split_pack_response

from .conftest import fast_client
from .test_localserver import post


def _echo(body: dict) -> str:
    """Names the prompt and the choice, so a choice that reaches the wrong request shows."""
    assert isinstance(body["prompt"], str), "the responder must see one prompt, never a list"
    return f"answer to {body['prompt']} choice {body['_index']} END tail words"


# -- the server ------------------------------------------------------------------------------------
def test_list_prompt_gets_n_choices_per_prompt_indexed_like_openai():
    with LocalServer(_echo) as srv:
        _, _, raw = post(srv, "/completions", {"prompt": ["p0", "p1 x", "p2"], "n": 2, "max_tokens": 50,
                                               "stop": ["END"]})
    data = json.loads(raw)
    assert [c["index"] for c in data["choices"]] == list(range(6))
    assert [c["text"] for c in data["choices"]] == [
        f"answer to p{i}{' x' if i == 1 else ''} choice {j} " for i in range(3) for j in range(2)]
    assert all(c["finish_reason"] == "stop" for c in data["choices"])  # stop applied per choice
    assert data["usage"]["prompt_tokens"] == 4  # summed over the prompts
    assert data["usage"]["completion_tokens"] == sum(count_tokens(c["text"]) for c in data["choices"])


def test_list_prompt_answers_match_single_prompt_answers():
    with LocalServer() as srv:
        _, _, single = post(srv, "/completions", {"prompt": "beta", "max_tokens": 40, "temperature": 0})
        _, _, packed = post(srv, "/completions", {"prompt": ["alpha", "beta"], "max_tokens": 40, "temperature": 0})
    assert json.loads(packed)["choices"][1]["text"] == json.loads(single)["choices"][0]["text"]


# -- the client --------------------------------------------------------------------------------------
def test_plan_packs_groups_equal_params_in_order_and_leaves_chat_alone():
    a, b = SamplingParams(temperature=0.1), SamplingParams(temperature=0.9)
    chat = LMRequest(messages=({"role": "user", "content": "x"},), params=a)
    reqs = [LMRequest(prompt="0", params=a), LMRequest(prompt="1", params=b), chat, LMRequest(prompt="3", params=a),
            LMRequest(prompt="4", params=a), LMRequest(prompt="5", params=b), LMRequest(prompt="6", params=a)]
    lm = OpenAICompatibleBackend("m", base_url="http://127.0.0.1:9/v1", prompts_per_request=3)
    assert lm.plan_packs(reqs) == [[0, 3, 4], [1, 5], [2], [6]]
    lm.prompts_per_request = 1
    assert lm.plan_packs(reqs) == [[i] for i in range(7)]


def test_packing_preserves_order_across_packs_with_mixed_params():
    params = [SamplingParams(max_tokens=30, temperature=t, n=n) for t, n in ((0.2, 1), (0.7, 2), (0.2, 3))]
    reqs = [LMRequest(prompt=f"q{i}", params=params[i % 3]) for i in range(40)]
    with LocalServer(_echo) as srv:
        with fast_client(srv, prompts_per_request=5, concurrency=4) as lm:
            results = lm.generate(reqs)
            stats = dict(lm.stats)
        bodies = list(srv.received)
        assert srv.max_in_flight <= 4
    assert len(bodies) == stats["packs"] + sum(not isinstance(b["prompt"], list) for b in bodies)
    assert len(bodies) < 40 and max(len(b["prompt"]) for b in bodies if isinstance(b["prompt"], list)) == 5
    for i, (req, res) in enumerate(zip(reqs, results)):
        assert res.ok
        assert [c.text for c in res.choices] == [f"answer to q{i} choice {j} END tail words"
                                                 for j in range(req.params.n)]
        assert [c["index"] for c in res.raw["choices"]] == list(range(req.params.n))
    assert stats["requests"] == 40


def test_usage_totals_equal_the_unpacked_totals():
    reqs = [LMRequest(prompt=" ".join(["word"] * (i + 1)), params=SamplingParams(max_tokens=12, n=2))
            for i in range(23)]
    totals = {}
    for k in (1, 5):
        with LocalServer() as srv:
            with fast_client(srv, prompts_per_request=k) as lm:
                results = lm.generate(reqs)
                totals[k] = (lm.usage.prompt_tokens, lm.usage.completion_tokens)
            assert sum(r.usage.prompt_tokens for r in results) == totals[k][0]
            assert sum(r.usage.completion_tokens for r in results) == totals[k][1]
            if k == 5:  # a longer prompt gets a larger share of the pack's prompt tokens
                assert results[4].usage.prompt_tokens > results[0].usage.prompt_tokens
    assert totals[1] == totals[5]


def test_faults_with_packing_thirty_percent_batch_completes():
    reqs = [LMRequest(prompt=f"request {i}", params=SamplingParams(max_tokens=8)) for i in range(200)]
    with LocalServer(fault_rate=0.3, seed=11, retry_after=0.01, slow_seconds=1.5, latency=0.005) as srv:
        with fast_client(srv, timeout=1.0, concurrency=16, prompts_per_request=5) as lm:
            lm.local = False  # a flaky remote API, timeouts included
            results = lm.generate(reqs)
            stats = dict(lm.stats)
        faults = sum(srv.fault_counts.values())
    assert stats["packs"] == 40 and faults >= 8
    failed = [i for i, r in enumerate(results) if not r.ok]
    assert len(results) == 200 and len(failed) <= 10
    assert all(r.error for r in results if not r.ok)
    assert all(not results[j].ok for p in {i // 5 for i in failed} for j in range(5 * p, 5 * p + 5))  # whole packs
    assert all(r.text for r in results if r.ok)
    assert any(r.attempts > 1 for r in results)


def test_a_pack_that_keeps_failing_gives_each_request_an_error_result():
    with LocalServer(script=["500"] * 3) as srv:
        with fast_client(srv, max_retries=1, prompts_per_request=3, concurrency=1) as lm:
            results = lm.generate([LMRequest(prompt=str(i)) for i in range(4)])
    assert [r.ok for r in results] == [False, False, False, True]
    assert all("http_500" in r.error and r.attempts == 2 for r in results[:3])


def test_a_server_that_rejects_list_prompts_turns_packing_off():
    with LocalServer(lambda body: "fine", accept_list_prompts=False) as srv:
        with fast_client(srv, prompts_per_request=4) as lm:
            results = lm.generate([LMRequest(prompt=str(i)) for i in range(6)])
            assert lm.plan_packs([LMRequest(prompt="a"), LMRequest(prompt="b")]) == [[0], [1]]
        lists = [b for b in srv.received if isinstance(b["prompt"], list)]
    assert all(r.ok and r.text == "fine" for r in results)
    assert 1 <= len(lists) <= 2  # the packs in flight when the first 400 came back, then none


def test_split_pack_response_rejects_a_wrong_number_of_choices():
    data = {"choices": [{"index": 0, "text": "a"}], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}
    with pytest.raises(Exception, match="bad_pack"):
        split_pack_response(data, ["x", "y"], 1)


@pytest.mark.parametrize("total,weights", [(10, [1, 1, 1]), (7, [0, 0]), (100, [3, 0, 9, 1]), (0, [2, 5]), (5, [1])])
def test_apportion_is_exact_and_proportional(total, weights):
    shares = apportion(total, weights)
    assert sum(shares) == total and len(shares) == len(weights)
    wsum = sum(weights) or len(weights)
    for s, w in zip(shares, weights):
        assert abs(s - total * (w if sum(weights) else 1) / wsum) < 1


# -- the pipeline's --prompts-per-request ------------------------------------------------------------
def test_generate_with_prompts_per_request_packs_and_gives_the_same_run(tmp_path, seed_file):
    from selfinstruct.generation import cli
    from doubles.synthetic import synthetic_responder

    def run(k: int) -> tuple[dict, list[dict]]:
        out = tmp_path / f"k{k}"
        with LocalServer(synthetic_responder) as srv:
            code = cli.main(["generate", "--out", str(out), "--model", "local-test-model", "--base-url", srv.base_url,
                             "--api-key", "x", "--seed-tasks", str(seed_file), "--num-instructions", "12",
                             "--no-progress", "--no-summary", "--prompts-per-request", str(k)])
            bodies = list(srv.received)
        assert code == 0
        files = {p.name: [_untimed(json.loads(line)) for line in p.read_text("utf-8").splitlines()]
                 for p in sorted(out.glob("*.jsonl")) if p.name != "requests.jsonl"}
        return files, bodies

    files1, bodies1 = run(1)
    files5, bodies5 = run(5)
    assert files5 == files1 and len(files1) >= 4  # the synthetic responder ignores the seed, so packing changes nothing else
    lists = [b for b in bodies5 if isinstance(b.get("prompt"), list)]
    assert lists and max(len(b["prompt"]) for b in lists) == 5
    assert len(bodies5) < len(bodies1) / 2
    assert sum(len(b["prompt"]) if isinstance(b["prompt"], list) else 1 for b in bodies5) == len(bodies1)


def _untimed(obj):
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if k != "created_at"}
    return [_untimed(v) for v in obj] if isinstance(obj, list) else obj


def test_generate_rejects_a_prompts_per_request_below_one(tmp_path, capsys):
    from selfinstruct.generation import cli

    code = cli.main(["generate", "--out", str(tmp_path / "r"), "--num-instructions", "3", "--prompts-per-request", "0",
                     "--no-progress"])
    assert code == 2 and "--prompts-per-request" in capsys.readouterr().err
