"""`selfinstruct evaluate superni score`: output, exit codes, and one-line errors."""
from __future__ import annotations

import json

import pytest
from rouge_score import rouge_scorer

from selfinstruct.generation.cli import main


def _write_preds(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_writes_metrics(tmp_path, sample_references, reference_rows):
    rows = reference_rows
    preds = [{"id": r["id"], "prediction": r["references"][0][: len(r["references"][0]) // 2]} for r in rows[:-7]]
    p = _write_preds(tmp_path / "preds.jsonl", preds)
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "superni", "score", "--predictions", str(p), "--references", str(sample_references),
                 "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert set(m) >= {"exact_match", "rougeL", "per_category", "per_task", "missing"}
    assert m["missing"] == 7 and m["count"] == 600
    assert len(m["per_task"]) == 6 and "data_to_text" in m["per_category"]
    # spot-check the headline with a direct loop
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    by_id = {x["id"]: x["prediction"] for x in preds}
    direct = sum(max(scorer.score(ref, by_id.get(r["id"], ""))["rougeL"].fmeasure for ref in r["references"])
                 for r in rows)
    assert m["rougeL"] == round(100.0 * direct / len(rows), 4)


@pytest.mark.parametrize("content, expect", [
    ('{"id": "task957-5532c6df6b43439cbcaf19d231b1e806", "prediction": "x"}\n{"id": "nope", "prediction": "y"}\n',
     ":2: id: unknown instance id 'nope'"),
    ('{"id": "task957-5532c6df6b43439cbcaf19d231b1e806", "prediction": "x"}\n{"id": \n', ":2: invalid JSON"),
    ('{"id": "task957-5532c6df6b43439cbcaf19d231b1e806", "prediction": 3}\n', ":1: prediction: must be a string"),
    ('{"id": "task957-5532c6df6b43439cbcaf19d231b1e806"}\n', ":1: prediction: missing"),
    ('[1, 2]\n', ":1: expected a JSON object"),
    ('{"id": "task957-5532c6df6b43439cbcaf19d231b1e806", "prediction": "x"}\n' * 2, ":2: id: duplicate prediction"),
])
def test_bad_predictions_exit_2_with_one_line(tmp_path, capsys, sample_references, content, expect):
    p = tmp_path / "preds.jsonl"
    p.write_text(content)
    out = tmp_path / "metrics.json"
    code = main(["evaluate", "superni", "score", "--predictions", str(p), "--references", str(sample_references),
                 "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"error: {p}") and expect in err[0]
    assert not out.exists()


def test_bad_references_name_line_and_field(tmp_path, capsys):
    refs = tmp_path / "refs.jsonl"
    refs.write_text('{"id": "a", "references": ["x"]}\n{"id": "b", "references": "x"}\n')
    preds = _write_preds(tmp_path / "p.jsonl", [])
    assert main(["evaluate", "superni", "score", "--predictions", str(preds), "--references", str(refs)]) == 2
    assert f"error: {refs}:2: references: must be a non-empty list of strings" in capsys.readouterr().err


def test_existing_metrics_kept_on_error(tmp_path, sample_references):
    out = tmp_path / "metrics.json"
    out.write_text('{"old": true}\n')
    p = _write_preds(tmp_path / "p.jsonl", [{"id": "zzz", "prediction": "x"}])
    assert main(["evaluate", "superni", "score", "--predictions", str(p), "--references", str(sample_references),
                 "--out", str(out)]) == 2
    assert json.loads(out.read_text()) == {"old": True}


def test_xlingual_flag_without_tokenizer_is_clear(tmp_path, capsys, sample_references):
    p = _write_preds(tmp_path / "p.jsonl", [])
    code = main(["evaluate", "superni", "score", "--predictions", str(p), "--references", str(sample_references),
                 "--xlingual", "--xlingual-tokenizer", str(tmp_path / "missing")])
    assert code == 2 and "xlingual tokenizer" in capsys.readouterr().err


def test_evaluate_load_module_matches_scorer(reference_rows):
    import evaluate

    from selfinstruct.evaluation.superni.metric import Reference, Scorer
    from selfinstruct.evaluation.superni.superni_metric import module_path

    metric = evaluate.load(str(module_path()))
    preds = [r["references"][0].lower()[::2] for r in reference_rows]
    refs = [r["references"] for r in reference_rows]
    got = metric.compute(predictions=preds, references=refs, task_ids=[r["task_id"] for r in reference_rows],
                         categories=[r["task_category"] for r in reference_rows])
    direct = Scorer().score({str(i): p for i, p in enumerate(preds)},
                            [Reference(str(i), tuple(r["references"]), r["task_id"], r["task_category"])
                             for i, r in enumerate(reference_rows)]).as_dict()
    assert got["rougeL"] == direct["rougeL"] and got["exact_match"] == direct["exact_match"]
    assert got["per_task"] == direct["per_task"] and got["per_category"] == direct["per_category"]
    assert evaluate.load(str(module_path().parent)).compute(predictions=["The cat"], references=[["the cat."]]) == \
        {"exact_match": 100.0, "rougeL": 100.0}


def test_tk_instruct_prediction_rows_accepted(tmp_path, sample_references, reference_rows):
    row = reference_rows[0]
    p = _write_preds(tmp_path / "tk.jsonl", [{"Task": row["task_id"], "Instance": {"id": row["id"], "input": "...",
                                                                                  "output": row["references"]},
                                             "prediction": row["references"][0]}])
    out = tmp_path / "m.json"
    assert main(["evaluate", "superni", "score", "--predictions", str(p), "--references", str(sample_references),
                 "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["missing"] == 599 and m["per_task"][row["task_id"]]["exact_match"] == 1.0
