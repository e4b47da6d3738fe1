"""The LLM judge: strict verdicts, retries with a reminder, unrated never guessed, agreement."""
from __future__ import annotations

import json

import pytest

from selfinstruct.evaluation.user_oriented.judge import parse_verdict, render_messages
from selfinstruct.generation.cli import main
from selfinstruct.generation.jsonl import read_jsonl
from doubles.localserver import LocalServer


@pytest.mark.parametrize("text, grade", [
    ("The response is correct and complete.\n[[A]]", "A"),
    ("Minor issues. [[B]]  \n", "B"),
    ("[[D]]", "D"),
    ("Verdict: [[C]].", None),                       # text after the verdict
    ("[[A]] or maybe [[B]]", None),                  # two verdicts
    ("I considered [[A]] but final answer [[B]]", None),
    ("Grade: B", None),                              # no brackets
    ("Lowercase [[b]]", None),
    ("Out of scale [[E]]", None),
    ("", None),
])
def test_parse_verdict_is_strict(text, grade):
    assert parse_verdict(text)[0] == grade


def test_parse_verdict_explanation():
    assert parse_verdict("  Solid answer.\n\n[[A]]") == ("A", "Solid answer.")


def test_judge_prompt_has_rubric_reference_and_input(uo_tasks):
    no_input = next(t for t in uo_tasks if not t.input)
    system, user = render_messages(no_input, "my response")
    assert system["role"] == "system" and user["role"] == "user"
    text = user["content"]
    assert no_input.instruction in text and no_input.output in text and "my response" in text
    assert "[Input]\n(none)" in text
    assert "D: The response is irrelevant or completely invalid." in text
    long = render_messages(uo_tasks[0], "x" * 100, max_response_chars=10)[1]["content"]
    assert "x" * 10 + "\n[... 90 more characters not shown]" in long


# What each judge model answers, per response marker and attempt (1-based).
SCRIPT = {
    ("j1", "R0"): ["Correct. [[A]]"],
    ("j1", "R1"): ["Small slip. [[B]]"],
    ("j1", "R2"): ["It is a B I think.", "Sorry.\n[[B]]"],
    ("j1", "R3"): ["[[A]] or [[C]]", "Grade: C", "[[C]] because"],
    ("j2", "R0"): ["Great. [[A]]"],
    ("j2", "R1"): ["Okay. [[B]]"],
    ("j2", "R2"): ["Wrong facts. [[C]]"],
    ("j2", "R3"): ["Off topic. [[D]]"],
}


def responder(body):
    assert "messages" in body, "the judge uses the chat endpoint"
    user = body["messages"][1]["content"]
    marker = user.split("[Response to grade]\n", 1)[1].split()[0]
    attempt = (len(body["messages"]) - 2) // 2 + 1
    return SCRIPT[(body["model"], marker)][attempt - 1]


def _judge(server, preds, out, tf, *extra):
    return main(["evaluate", "user-oriented", "judge", "--predictions", str(preds), "--judge-base-url", server.base_url,
                 "--judge-api-key", "sk-judge-secret", "--out", str(out), "--tasks-file", str(tf), *extra])


def test_judge_two_models_retry_unrated_and_agreement(tmp_path, make_predictions, user_oriented_file, capsys):
    preds = make_predictions("m1", 4, response=lambda i, t: f"R{i} " + "long " * (10 * i))
    out = tmp_path / "ratings.jsonl"
    with LocalServer(responder) as server:
        assert _judge(server, preds, out, user_oriented_file, "--judge-model", "j1", "j2") == 0
        bodies = list(server.received)
        assert all(b["temperature"] == 0 for b in bodies)
        retries = [b for b in bodies if len(b["messages"]) > 2]
        assert len(retries) == 3  # R2 once, R3 twice (j1 only)
        assert "exactly one of [[A]], [[B]], [[C]] or [[D]]" in retries[0]["messages"][-1]["content"]
        assert retries[0]["messages"][-2]["role"] == "assistant"

        rows = {(r["id"][-1], r["rater"]): r for r in read_jsonl(out)}
        assert len(rows) == 8
        assert rows[("2", "llm:j1")]["rating"] == "B" and rows[("2", "llm:j1")]["attempts"] == 2
        unrated = rows[("3", "llm:j1")]
        assert unrated["rating"] is None and unrated["attempts"] == 3 and unrated["raw"] == "[[C]] because"
        assert rows[("3", "llm:j2")]["rating"] == "D"
        assert rows[("0", "llm:j1")]["explanation"] == "Correct."

        summary = json.loads((tmp_path / "judge_summary.json").read_text())
        # Shared rated items 0-2: j1 A,B,B vs j2 A,B,C -> 2/3 agreement; pe = 3/9 -> kappa 0.5
        pair = summary["agreement"]["pairs"][0]
        assert (pair["rater_a"], pair["rater_b"], pair["n"]) == ("llm:j1", "llm:j2", 3)
        assert pair["percent_agreement"] == pytest.approx(2 / 3) and pair["cohen_kappa"] == pytest.approx(0.5)
        assert summary["counts"]["llm:j1"] == {"rated": 3, "unrated": 1}
        assert summary["run"]["unrated"] == 1 and summary["run"]["retried_for_verdict"] == 3
        lb = summary["length_bias"]["llm:j2"]
        # j2 grades A,B,C,D for ever longer responses: a perfect negative rank correlation.
        assert lb["spearman_grade_vs_length"] == pytest.approx(-1.0)
        assert lb["per_grade"]["A"]["mean_length"] == 1.0 and lb["per_grade"]["D"]["mean_length"] == 31.0
        printed = capsys.readouterr().out
        assert "Cohen's kappa 0.500" in printed and "length bias" in printed

        # Rerun: everything is already rated (unrated included), nothing is asked again.
        server.reset()
        assert _judge(server, preds, out, user_oriented_file, "--judge-model", "j1", "j2") == 0
        assert server.received == [] and len(read_jsonl(out)) == 8
    for f in (out, tmp_path / "judge_summary.json", tmp_path / "ratings.manifest.json"):
        assert "sk-judge-secret" not in f.read_text()


def test_repeated_samples_of_one_judge(tmp_path, make_predictions, user_oriented_file):
    preds = make_predictions("m1", 3, response=lambda i, t: f"R{i}")
    out = tmp_path / "r.jsonl"
    with LocalServer(responder) as server:
        assert _judge(server, preds, out, user_oriented_file, "--judge-model", "j2", "--judges", "2",
                      "--summary", str(tmp_path / "s.json")) == 0
        assert sorted({b["seed"] for b in server.received}) == [1, 2]
    raters = sorted({r["rater"] for r in read_jsonl(out)})
    assert raters == ["llm:j2#1", "llm:j2#2"]
    pair = json.loads((tmp_path / "s.json").read_text())["agreement"]["pairs"][0]
    assert pair["n"] == 3 and pair["percent_agreement"] == 1.0 and pair["cohen_kappa"] == pytest.approx(1.0)


def test_judge_rejects_predictions_for_unknown_tasks(tmp_path, make_predictions, user_oriented_file, capsys):
    preds = make_predictions("m1", 2)
    lines = preds.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["id"] = "user_oriented_task_300"
    preds.write_text(lines[0] + "\n" + json.dumps(rec) + "\n")
    with LocalServer(responder) as server:
        assert _judge(server, preds, tmp_path / "r.jsonl", user_oriented_file, "--judge-model", "j1") == 2
        assert server.received == []
    err = capsys.readouterr().err.strip()
    assert err == f"error: {preds}:2: id: unknown task id 'user_oriented_task_300' (not one of the 252 user-oriented tasks)"
    assert not (tmp_path / "r.jsonl").exists()


def test_judge_reads_upstream_prediction_files(tmp_path, uo_tasks, user_oriented_file):
    # Upstream's released shape: no id or model; the model name comes from the file name.
    preds = tmp_path / "davinci_predictions.jsonl"
    preds.write_text("".join(json.dumps({"prompt": "p", "instruction": t.instruction, "input": t.input,
                                         "response": f"R{i} text", "target": t.output}) + "\n"
                             for i, t in enumerate(uo_tasks[:2])))
    out = tmp_path / "r.jsonl"
    with LocalServer(responder) as server:
        assert _judge(server, preds, out, user_oriented_file, "--judge-model", "j2") == 0
    assert {(r["id"], r["model"], r["rating"]) for r in read_jsonl(out)} == {
        ("user_oriented_task_0", "davinci", "A"), ("user_oriented_task_1", "davinci", "B")}
