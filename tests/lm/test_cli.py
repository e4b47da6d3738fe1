"""`selfinstruct complete` against the local server (in process) and its input errors."""
from __future__ import annotations

import json

from selfinstruct.generation.cli import main
from selfinstruct.generation.lm.cli import redact_url

from .conftest import PLANTED_KEY


def run(server, *args):
    return main(["complete", "--base-url", server.base_url, "--api-key", PLANTED_KEY,
                 "--model", "local-test-model", "--max-retries", "1", *args])


def test_prompts_file_and_demo_in_order(server, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("from the file\n\nsecond line\n")
    assert run(server, "positional", "--file", str(prompts), "--demo", "--json") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records, summary = lines[:-1], lines[-1]
    assert [r["label"] for r in records[:3]] == ["positional", "from the file", "second line"]
    assert len(records) > 3 and all(r["choices"][0]["text"] for r in records)
    assert "prompts, 0 failed" in summary["summary"]
    bodies = server.received  # arrival order is concurrent; output order is request order
    assert {"positional", "from the file", "second line"} <= {b.get("prompt") for b in bodies}
    assert any("messages" in b for b in bodies)  # demo includes chat requests


def test_chat_flag_and_stop_escape(server, capsys):
    assert run(server, "--chat", "--stop", "\\n", "hello") == 0
    body = server.received[0]
    assert body["messages"] == [{"role": "user", "content": "hello"}] and body["stop"] == ["\n"]
    out = capsys.readouterr().out
    assert "--- [0] hello" in out and "cost $" in out


def test_input_errors_exit_2(server, tmp_path, capsys):
    assert run(server) == 2
    assert "no prompts" in capsys.readouterr().err
    assert run(server, "--file", str(tmp_path / "nope.txt")) == 2
    assert "nope.txt: file not found" in capsys.readouterr().err
    assert run(server, "--max-tokens", "0", "x") == 2
    assert "--max-tokens" in capsys.readouterr().err
    assert server.received == []


def test_all_failed_exits_1(capsys):
    from doubles.localserver import LocalServer

    with LocalServer(script=["500"] * 4) as srv:
        assert run(srv, "x") == 1
    assert "error after 2 attempt(s)" in capsys.readouterr().out


def test_redact_url():
    assert redact_url("https://user:pw@host:8443/v1") == "https://***@host:8443/v1"
    assert redact_url("http://localhost:8000/v1") == "http://localhost:8000/v1"
