"""The paper's prompt format and the predictions files (ours and upstream's)."""
from __future__ import annotations

import json

import pytest

from selfinstruct.evaluation.user_oriented.predictions import load_many, load_predictions, model_name_from_path
from selfinstruct.evaluation.user_oriented.prompts import build_prompt
from selfinstruct.generation.errors import InputError


def test_prompt_format_exact_text(uo_tasks):
    assert build_prompt("Fix the grammar.", "me and him goes") == "Fix the grammar.\n\nInput: me and him goes\nOutput:"
    assert build_prompt("Write a haiku.", "") == "Write a haiku.\nOutput:"
    t = uo_tasks[2]
    assert build_prompt(t.instruction, t.input) == (
        "Rewrite the given text and correct grammar, spelling, and punctuation errors.\n\n"
        "Input: If you'd told me year ago that today I would finish a marathon, I would of laughed. "
        "Your support had a huge affect on me!\nOutput:")


def _upstream_file(path, tasks, order=None):
    """Upstream's shape: no id/model, one line per task; the first instruction with a stray newline."""
    order = order if order is not None else range(len(tasks))
    with path.open("w") as fh:
        for i in order:
            t = tasks[i]
            fh.write(json.dumps({"prompt": build_prompt(t.instruction, t.input),
                                 "instruction": t.instruction + ("\n" if i == 0 else ""),
                                 "input": t.input, "response": f" response {i}", "target": t.output}) + "\n")
    return path


def test_upstream_predictions_by_order(tmp_path, uo_tasks):
    path = _upstream_file(tmp_path / "text-davinci-003_predictions.jsonl", uo_tasks)
    preds = load_predictions(path, uo_tasks)
    assert len(preds) == 252
    assert {p.model for p in preds} == {"text-davinci-003"}
    assert [p.id for p in preds] == [t.id for t in uo_tasks]
    assert preds[7].response == " response 7"


def test_upstream_predictions_reordered_match_by_instruction_and_input(tmp_path, uo_tasks):
    # 89 and 124 share the instruction "Answer the following question." and differ by input.
    order = [124, 89, 0, 3]
    preds = load_predictions(_upstream_file(tmp_path / "x.jsonl", uo_tasks, order), uo_tasks)
    assert [p.id for p in preds] == [f"user_oriented_task_{i}" for i in order]
    assert preds[0].response == " response 124"


def test_model_name_from_file_name():
    assert model_name_from_path("/a/davinci-self-instruct_predictions.jsonl") == "davinci-self-instruct"
    assert model_name_from_path("mine.jsonl") == "mine"


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("change, line, field, message", [
    (lambda rs: rs[1].update(id="user_oriented_task_999"), 2, "id", "unknown task id"),
    (lambda rs: rs[1].update(id="user_oriented_task_0"), 2, "instruction", "do not match"),
    (lambda rs: rs.append(dict(rs[0])), 4, "id", "duplicate prediction"),
    (lambda rs: rs[2].pop("response"), 3, "response", "missing"),
    (lambda rs: [r.pop("id") for r in rs] and rs[1].update(instruction="Something else entirely."),
     2, "instruction", "no user-oriented task"),
])
def test_bad_predictions(tmp_path, make_predictions, uo_tasks, change, line, field, message):
    path = make_predictions("m", 3)
    records = [json.loads(x) for x in path.read_text().splitlines()]
    change(records)
    _write(path, records)
    with pytest.raises(InputError, match=message) as err:
        load_predictions(path, uo_tasks)
    assert (err.value.line, err.value.field) == (line, field)


def test_same_model_in_two_files_is_refused(make_predictions, uo_tasks):
    a = make_predictions("m", 2, name="a.jsonl")
    b = make_predictions("m", 2, name="b.jsonl")
    with pytest.raises(InputError, match="already in"):
        load_many([a, b], uo_tasks)
