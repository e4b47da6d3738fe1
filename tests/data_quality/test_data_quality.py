"""`evaluate data-quality`: the seeded sample, strict yes/no parsing with re-asks, resume, the
summary's shares and Wilson intervals by hand, the human sheet's import and judge-human kappa."""
from __future__ import annotations

import json
import math
import re

import pytest

from selfinstruct.evaluation.data_quality.items import read_run, sample_items
from selfinstruct.evaluation.data_quality.spec import load_spec
from selfinstruct.evaluation.data_quality.summary import wilson_interval
from selfinstruct.generation.cli import main
from selfinstruct.generation.jsonl import read_jsonl
from doubles.localserver import LocalServer

SECRET = "sk-dq-judge-secret"


@pytest.mark.parametrize("text, answers", [
    ("1. yes\n2. no\n3. yes", ("yes", "no", "yes")),
    ("  1. Yes\n\n2) NO.\n3.yes  \n", ("yes", "no", "yes")),
    ("1. yes\n2. no", None),                                # a line missing
    ("1. yes\n3. no\n2. yes", None),                        # out of order
    ("1. yes\n2. no\n3. yes\n4. no", None),                 # one too many
    ("1. yes, clearly\n2. no\n3. yes", None),               # commentary
    ("Answers: 1. yes 2. no 3. yes", None),                 # one line
    ("1. maybe\n2. no\n3. yes", None),
    ("", None),
])
def test_parse_is_strict(text, answers):
    got = load_spec().parse(text)
    assert (None if got is None else tuple(got[k] for k in ("instruction", "input", "output"))) == answers


def test_sample_is_seeded_one_instance_each(make_run, tmp_path):
    by_id = read_run(make_run(tmp_path / "run", n=10, per=3))
    a, b = sample_items(by_id, 4, seed=1), sample_items(by_id, 4, seed=1)
    assert a == b and len({i.id for i in a}) == 4
    assert [i.id for i in a] == sorted((i.id for i in a), key=lambda s: int(s.split("_")[1]))  # the run's order
    assert sample_items(by_id, 4, seed=2) != a
    assert len(sample_items(by_id, 50, seed=0)) == 10  # fewer instructions than asked: all of them
    # One random instance of each, not always the first (the first of each has no input).
    assert {i.input == "" for i in sample_items(by_id, 10, seed=0)} == {True, False}


def test_wilson_interval_by_hand():
    low, high = wilson_interval(2, 3)
    assert (round(low, 4), round(high, 4)) == (0.2077, 0.9385)
    assert wilson_interval(5, 5)[1] == 1.0 and round(wilson_interval(5, 5)[0], 4) == 0.5655
    assert all(math.isnan(x) for x in wilson_interval(0, 0))  # no items, no interval


# What the judge says for each task marker, attempt by attempt.
SCRIPT = {
    "T0": ["1. yes\n2. yes\n3. yes"],
    "T1": ["1. yes\n2. no\n3. yes"],
    "T2": ["All fine I think.", "1. no\n2. no\n3. no"],
    "T3": ["yes yes yes", "1. yes\n2. yes", "1 yes"],  # never in form: unanswered
}


def responder(body):
    user = body["messages"][1]["content"]
    marker = re.search(r"Task (T\d+)", user).group(1)
    attempt = (len(body["messages"]) - 2) // 2
    return SCRIPT[marker][attempt]


def _dq(run, out, *extra):
    return main(["evaluate", "data-quality", str(run), "--out", str(out), "--sample", "4", *extra])


def _judge_flags(server):
    return ["--judge-model", "judge-a", "--judge-base-url", server.base_url, "--judge-api-key", SECRET]


def test_judge_retries_summary_resume_and_no_secret(make_run, tmp_path, capsys):
    run, out = make_run(tmp_path / "run"), tmp_path / "dq"
    with LocalServer(responder) as server:
        assert _dq(run, out, *_judge_flags(server)) == 0
        retries = [b for b in server.received if len(b["messages"]) > 2]
        assert len(server.received) == 4 + 3 and len(retries) == 3  # T2 once, T3 twice
        assert "N. yes" in retries[0]["messages"][-1]["content"]
        rows = {r["id"]: r for r in read_jsonl(out / "ratings.jsonl")}
        assert rows["instruction_2"]["answers"] == {"instruction": "no", "input": "no", "output": "no"}
        assert rows["instruction_2"]["attempts"] == 2
        assert rows["instruction_3"]["answers"] is None and rows["instruction_3"]["attempts"] == 3

        s = json.loads((out / "summary.json").read_text())["shares"]["llm:judge-a"]
        assert (s["instruction"]["yes"], s["instruction"]["n"]) == (2, 3)
        assert (s["input"]["yes"], s["input"]["n"]) == (1, 3)
        assert (s["all"]["yes"], s["all"]["n"]) == (1, 3) and s["unanswered"] == 1 and s["rated"] == 4
        assert [round(x, 4) for x in s["output"]["ci95"]] == [0.2077, 0.9385]
        report = (out / "report.md").read_text()
        assert "66.7% (2/3; 95% CI 20.8-93.9%)" in report and "1 / 4" in report
        assert "all questions yes 33.3% of 3" in capsys.readouterr().out
        counts = json.loads((out / "manifest.json").read_text())["counts"]
        assert (counts["rated"], counts["unrated"], counts["retried"], counts["requests"]) == (3, 1, 3, 7)

        # Resume: a kill after two ratings; the rerun asks only for the two missing items.
        lines = (out / "ratings.jsonl").read_text().splitlines(keepends=True)
        (out / "ratings.jsonl").write_text("".join(lines[:2]) + lines[2][:10])  # and a torn line
        server.reset()
        assert _dq(run, out, *_judge_flags(server)) == 0
        asked = {re.search(r"Task (T\d+)", b["messages"][1]["content"]).group(1) for b in server.received}
        kept = {json.loads(x)["id"].replace("instruction_", "T") for x in lines[:2]}
        assert asked == {"T0", "T1", "T2", "T3"} - kept and len(kept) == 2
        assert len(read_jsonl(out / "ratings.jsonl")) == 4
        server.reset()
        assert _dq(run, out, *_judge_flags(server)) == 0 and server.received == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend"]["model"] == "judge-a" and manifest["backend"]["api_key_set"] is True
    assert manifest["usage"]["judge-a"]["completion_tokens"] > 0 and manifest["settings"]["sample"] == 4
    for f in out.iterdir():
        assert SECRET not in f.read_text()


def test_another_sample_into_the_same_folder_is_refused(make_run, tmp_path, capsys):
    run, out = make_run(tmp_path / "run"), tmp_path / "dq"
    assert _dq(run, out, "--sheet") == 0
    assert main(["evaluate", "data-quality", str(run), "--out", str(out), "--sample", "2", "--sheet"]) == 2
    assert "holds ratings of another sample" in capsys.readouterr().err


@pytest.mark.parametrize("setup, extra, message", [
    (lambda p: (p / "all_generated_instances.jsonl").write_text(""), [], "the run has no instances to rate"),
    (lambda p: None, ["--sample", "0"], "--sample: must be at least 1"),
    (lambda p: (p / "all_generated_instances.jsonl").unlink(), [], "no all_generated_instances.jsonl"),
    (lambda p: (p / "all_generated_instances.jsonl").write_text('{"instruction": "x", "input": ""}\n'), [],
     ":1: output: missing or not a string"),
])
def test_bad_input_one_line_exit_2(make_run, tmp_path, capsys, setup, extra, message):
    run = make_run(tmp_path / "run")
    setup(run)
    code = main(["evaluate", "data-quality", str(run), "--out", str(tmp_path / "dq"), "--sheet", *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_sheet_import_and_judge_human_agreement(make_run, tmp_path):
    run, out = make_run(tmp_path / "run"), tmp_path / "dq"
    with LocalServer(responder) as server:
        assert _dq(run, out, "--sheet", *_judge_flags(server)) == 0
    page = (out / "sheet.html").read_text()
    data = json.loads(re.search(r'id="sheet-data">(.*?)</script>', page, re.S).group(1))
    assert [q["key"] for q in data["questions"]] == ["instruction", "input", "output"]
    assert data["items"][2]["instruction"] == "Task T2: do thing 2." and data["export_format"]
    y, n = "yes", "no"
    human = {0: (y, y, y), 1: (y, y, y), 2: (n, n, y), 3: (y, y, y)}
    export = {"format": data["export_format"], "sheet_id": data["sheet_id"], "rater": "alice", "ratings": [
        {"key": f"item-{i}", "id": f"instruction_{i}", "answers": dict(zip(("instruction", "input", "output"), a))}
        for i, a in human.items()]}
    path = tmp_path / "alice.json"
    path.write_text(json.dumps(export))
    assert _dq(run, out, "--import-ratings", str(path)) == 0
    assert _dq(run, out, "--import-ratings", str(path)) == 2  # the same answers twice: refused
    summary = json.loads((out / "summary.json").read_text())
    assert summary["shares"]["human:alice"]["all"]["yes"] == 3
    by_q = {r["question"]: r for r in summary["agreement"]}
    # Items 0-2 (the judge left item 3 unanswered). instruction: y,y,n vs y,y,n -> kappa 1.
    assert by_q["instruction"]["n"] == 3 and by_q["instruction"]["cohen_kappa"] == pytest.approx(1.0)
    # input: judge y,n,n vs human y,y,n -> 2/3 agree; expected 1/3*2/3 + 2/3*1/3 = 4/9 -> kappa 0.4.
    assert by_q["input"]["percent_agreement"] == pytest.approx(2 / 3)
    assert by_q["input"]["cohen_kappa"] == pytest.approx(0.4)
    # output: judge y,y,n vs human y,y,y -> expected agreement 2/3 equals observed -> kappa 0.
    assert by_q["output"]["cohen_kappa"] == pytest.approx(0.0)
    assert "## Agreement" in (out / "report.md").read_text()
    assert json.loads((out / "manifest.json").read_text())["backend"]["model"] == "judge-a"  # kept by the import


def test_failed_requests_are_not_recorded_and_retried_on_rerun(make_run, tmp_path, capsys):
    run, out = make_run(tmp_path / "run"), tmp_path / "dq"
    with LocalServer(responder) as server:
        server.inject("500")  # the first request fails for good (no backend retries below)
        assert _dq(run, out, *_judge_flags(server), "--judge-max-retries", "0", "--judge-concurrency", "1") == 1
        assert "1 judge requests failed" in capsys.readouterr().err
        assert len(read_jsonl(out / "ratings.jsonl")) == 3
        server.reset()
        assert _dq(run, out, *_judge_flags(server)) == 0
        assert len(read_jsonl(out / "ratings.jsonl")) == 4
        assert len({b["messages"][1]["content"] for b in server.received}) == 1  # only the failed item again
