"""Judges are YAML specs: the packaged ones, a user's own file, overlays, and one-line errors."""
from __future__ import annotations

import pytest

from selfinstruct.evaluation.user_oriented.judge import render_messages
from selfinstruct.evaluation.user_oriented.judge_spec import judge_names, load_judge_spec
from selfinstruct.generation.cli import main
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import read_jsonl
from doubles.localserver import LocalServer


def test_packaged_judges_and_the_overlay(uo_tasks):
    assert {"default", "verdict-only"} <= set(judge_names())
    default, cheap = load_judge_spec("default"), load_judge_spec("verdict-only")
    assert (default.max_tokens, default.verdict_retries, default.parser) == (512, 2, "bracket_verdict")
    # verdict-only builds on default: its own wording and reply length, the rest inherited
    assert (cheap.max_tokens, cheap.rubric, cheap.parser) == (8, default.rubric, default.parser)
    assert cheap.prompt["system"] == default.prompt["system"] and cheap.prompt["user"] != default.prompt["user"]
    assert cheap.version != default.version
    text = render_messages(uo_tasks[0], "my answer", spec=cheap)[1]["content"]
    assert "Reply with the verdict only" in text and "my answer" in text and "A: " in text


def test_a_users_judge_file(tmp_path):
    path = tmp_path / "strict.yaml"
    path.write_text("base: default\nname: strict\nversion: strict-v1\nsampling: {max_tokens: 64}\n"
                    "verdict_retries: 0\nprompt: {system: Be harsh.}\n")
    spec = load_judge_spec(str(path))
    assert (spec.name, spec.max_tokens, spec.verdict_retries, spec.prompt["system"]) == ("strict", 64, 0, "Be harsh.")
    assert spec.temperature == 0.0 and "{rubric}" in spec.prompt["user"]


@pytest.mark.parametrize("body, field, line", [
    ("name: x\nversion: v\nparser: [oops\n", None, 4),
    ("base: default\nparser: guess\n", "parser", None),
    ("base: default\nverdict_retries: two\n", "verdict_retries", None),
    ("base: default\nprompt: {user: 1}\n", "prompt", None),
    ("base: nobody\n", "--judge-config", None),
])
def test_bad_judge_files_get_one_line_errors(tmp_path, body, field, line):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(InputError) as err:
        load_judge_spec(str(path))
    assert err.value.field == field and "\n" not in str(err.value)
    if line is not None:
        assert err.value.line == line and str(path) in str(err.value)


def test_the_command_sends_what_the_spec_says(tmp_path, make_predictions, user_oriented_file):
    preds = make_predictions("m1", 2, response=lambda i, t: f"R{i}")
    out = tmp_path / "ratings.jsonl"
    with LocalServer(lambda body: "[[B]]") as server:
        assert main(["evaluate", "user-oriented", "judge", "--predictions", str(preds), "--judge-model", "j",
                     "--judge-base-url", server.base_url, "--out", str(out), "--tasks-file", str(user_oriented_file),
                     "--judge-config", "verdict-only"]) == 0
        bodies = list(server.received)
    assert [b["max_tokens"] for b in bodies] == [8, 8]
    assert all("Reply with the verdict only" in b["messages"][1]["content"] for b in bodies)
    rows = read_jsonl(out)
    assert [r["rating"] for r in rows] == ["B", "B"]
    assert {r["judge_spec"] for r in rows} == {"user-oriented-judge-verdict-only-v1"}
