"""The local server over plain HTTP (no SDK): routes, usage, stop handling, faults, auth."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from doubles.localserver import LocalServer


def post(srv, path, body, key=None):
    req = urllib.request.Request(srv.base_url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {key}"} if key else {})})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, dict(resp.headers), resp.read()


def test_models_and_completions(server):
    with urllib.request.urlopen(server.base_url + "/models") as resp:
        assert json.load(resp)["data"][0]["id"] == "local-test-model"
    status, _, raw = post(server, "/completions", {"model": "m", "prompt": "a b c", "max_tokens": 4})
    data = json.loads(raw)
    assert status == 200 and data["choices"][0]["finish_reason"] == "length"
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    _, _, raw = post(server, "/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                                   "max_tokens": 200, "stop": ["\n"], "n": 2, "temperature": 1})
    choices = json.loads(raw)["choices"]
    assert [c["finish_reason"] for c in choices] == ["stop", "stop"]
    assert all("\n" not in c["message"]["content"] for c in choices)
    assert choices[0]["message"]["content"] != choices[1]["message"]["content"]
    assert len(server.received) == 2


@pytest.mark.parametrize("fault, status", [("429", 429), ("500", 500), ("503", 503)])
def test_error_faults(fault, status):
    with LocalServer(script=[fault], retry_after=2) as srv:
        with pytest.raises(urllib.error.HTTPError) as err:
            post(srv, "/completions", {"prompt": "x"})
    assert err.value.code == status
    if fault == "429":
        assert err.value.headers["Retry-After"] == "2"
    assert srv.fault_counts == {fault: 1}


def test_malformed_empty_and_dropped():
    with LocalServer(script=["malformed", "empty_choices", "drop"]) as srv:
        _, _, raw = post(srv, "/completions", {"prompt": "x"})
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        _, _, raw = post(srv, "/completions", {"prompt": "x"})
        assert json.loads(raw)["choices"] == []
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            post(srv, "/completions", {"prompt": "x"})


def test_required_key_is_checked(tmp_path):
    with LocalServer(require_api_key="sk-right") as srv:
        with pytest.raises(urllib.error.HTTPError) as err:
            post(srv, "/completions", {"prompt": "x"}, key="sk-wrong")
        assert err.value.code == 401
        assert post(srv, "/completions", {"prompt": "x"}, key="sk-right")[0] == 200


def test_serves_many_requests_at_once():
    with LocalServer(latency=0.25) as srv:
        with ThreadPoolExecutor(64) as pool:
            statuses = list(pool.map(lambda i: post(srv, "/completions", {"prompt": str(i)})[0], range(64)))
    assert statuses == [200] * 64
    assert srv.max_in_flight >= 32  # handled concurrently, not one after another
