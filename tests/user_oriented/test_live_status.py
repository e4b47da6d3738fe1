"""`user-oriented generate` and `judge` show a live bar on stderr (done/total, failures,
retries) even when stderr is not a terminal; a second judge run adds to the summary."""
from __future__ import annotations

import json
import re

from selfinstruct.generation.cli import main
from doubles.localserver import LocalServer


def _bar_lines(err: str, desc: str) -> list[str]:
    return [line for line in re.split(r"[\r\n]", err) if line.startswith(desc)]


def test_generate_shows_progress_with_failures_and_retries(tmp_path, user_oriented_file, capsys):
    out = tmp_path / "preds.jsonl"
    with LocalServer(lambda body: " fine", script=["500"]) as server:
        assert main(["evaluate", "user-oriented", "generate", "--model", "tiny", "--base-url", server.base_url,
                     "--max-retries", "1", "--concurrency", "1", "--out", str(out),
                     "--tasks-file", str(user_oriented_file), "--limit", "3"]) == 0
    lines = _bar_lines(capsys.readouterr().err, "responses (tiny)")
    assert lines and "0/3" in lines[0] and "failed=0" in lines[0]  # shown before the first answer
    assert "3/3" in lines[-1] and "retried=1" in lines[-1]


def test_no_progress_hides_the_bar(tmp_path, user_oriented_file, capsys):
    with LocalServer(lambda body: " fine") as server:
        assert main(["evaluate", "user-oriented", "generate", "--model", "tiny", "--base-url", server.base_url,
                     "--out", str(tmp_path / "p.jsonl"), "--tasks-file", str(user_oriented_file), "--limit", "2",
                     "--no-progress"]) == 0
    assert not _bar_lines(capsys.readouterr().err, "responses")


def _judge(server, preds, out, tf, model):
    return main(["evaluate", "user-oriented", "judge", "--predictions", str(preds), "--judge-base-url",
                 server.base_url, "--judge-model", model, "--out", str(out), "--tasks-file", str(tf)])


def test_judge_shows_progress(tmp_path, make_predictions, user_oriented_file, capsys):
    preds = make_predictions("m1", 3)
    with LocalServer(lambda body: "Fine. [[A]]") as server:
        assert _judge(server, preds, tmp_path / "r.jsonl", user_oriented_file, "j1") == 0
    lines = _bar_lines(capsys.readouterr().err, "judging")
    assert lines and "0/3" in lines[0] and "failed=0" in lines[0] and "3/3" in lines[-1]


def test_a_second_judge_run_adds_to_the_summary(tmp_path, make_predictions, user_oriented_file):
    preds = make_predictions("m1", 3)
    out = tmp_path / "ratings.jsonl"
    grades = {"j1": "[[A]]", "j2": "[[B]]"}
    with LocalServer(lambda body: grades[body["model"]]) as server:
        assert _judge(server, preds, out, user_oriented_file, "j1") == 0
        assert _judge(server, preds, out, user_oriented_file, "j2") == 0
    summary = json.loads((tmp_path / "judge_summary.json").read_text())
    assert summary["counts"] == {"llm:j1": {"rated": 3, "unrated": 0}, "llm:j2": {"rated": 3, "unrated": 0}}
    pair = summary["agreement"]["pairs"][0]
    assert (pair["rater_a"], pair["rater_b"], pair["n"], pair["percent_agreement"]) == ("llm:j1", "llm:j2", 3, 0.0)
    assert set(summary["length_bias"]) == {"all", "llm:j1", "llm:j2"}
