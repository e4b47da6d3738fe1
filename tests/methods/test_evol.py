"""Evol-Instruct against the local scripted server: eliminations, failed evolutions going back to
the pool, lineage, the pool sources, and replay equal to the run."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selfinstruct.generation.pipeline.methods.parsing import copies_scaffold, is_refusal, is_yes, says_nothing
from selfinstruct.generation.pipeline.methods.pool import load_pool

from .conftest import read_jsonl

OPERATIONS = {"add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth"}


def test_elimination_rules():
    assert is_refusal("Sorry, I can't do that.", 80) and not is_refusal("Sorry for the wait; " + "word " * 90, 80)
    assert says_nothing("It is, of the.") and says_nothing("...") and not says_nothing("Paris is the capital.")
    assert copies_scaffold("Harder version: sort the list", ["harder version"])
    assert (is_yes(" Yes."), is_yes("no"), is_yes("maybe")) == (True, False, None)


def test_epochs_lineage_and_eliminations(tmp_path, run_method, server):
    out = tmp_path / "e"
    assert run_method("evol", out, "--epochs", "3", "--pool-limit", "24") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert manifest["method"] == "evol" and [e["epoch"] for e in counts["epochs"]] == [1, 2, 3]
    for rule in ("evolve:unchanged", "evolve:copied_scaffold", "compare:no_information_gain", "answer:refusal",
                 "answer:says_nothing"):
        assert counts["rejected"].get(rule, 0) > 0, rule
    lineage = read_jsonl(out / "lineage.jsonl")
    by_id = {r["id"]: r for r in lineage}
    kept = read_jsonl(out / "machine_generated_instructions.jsonl")
    assert len(lineage) == counts["instances"] == len(kept)
    pool = {p.id: p.instruction for p in load_pool(None, 24)}
    for row in lineage:
        assert row["operation"] in OPERATIONS and 1 <= row["epoch"] <= 3
        parent = by_id.get(row["parent_id"])
        if parent is None:  # evolved from the starting pool
            assert pool[row["parent_id"]] == row["parent_instruction"] and row["root_id"] == row["parent_id"]
        else:
            assert parent["epoch"] < row["epoch"] and parent["instruction"] == row["parent_instruction"]
            assert parent["root_id"] == row["root_id"]
    # a failed evolution leaves its parent in the pool: the next epoch evolves the parent again
    evolve = [b["prompt"] for b in server.received if "Harder version:" in b["prompt"] or "New task:" in b["prompt"]]
    failed = [r for r in read_jsonl(out / "rejected.jsonl") if r["step"] == "evolve" and r["request_idx"] < 24]
    assert failed
    for r in failed:
        later = [p for p in evolve if f"Task:\n{r['instruction']}\n\n" in p]
        assert len(later) >= 2, r  # asked in epoch 1 and again in epoch 2
    answers = {r["instruction"]: r["output"] for r in read_jsonl(out / "all_generated_instances.jsonl")}
    assert all(answers[r["instruction"]] == r["output"] for r in lineage)


def test_pool_sources(tmp_path, run_method):
    jsonl = tmp_path / "pool.jsonl"
    jsonl.write_text('{"instruction": "Name a river."}\n{"id": "x7", "instruction": "Add two numbers."}\n')
    assert [(p.id, p.instruction) for p in load_pool(str(jsonl))] == [("pool_0", "Name a river."), ("x7", "Add two numbers.")]
    parquet = tmp_path / "ds" / "instances" / "train-0.parquet"
    parquet.parent.mkdir(parents=True)
    pq.write_table(pa.table({"instruction_id": ["a", "a", "b"], "instruction": ["One.", "One.", "Two."]}), parquet)
    assert [p.instruction for p in load_pool(str(tmp_path / "ds"))] == ["One.", "Two."]
    run = tmp_path / "u"
    assert run_method("unnatural", run, "--num-examples", "6", "--paraphrases", "0") == 0
    kept = read_jsonl(run / "machine_generated_instructions.jsonl")
    assert [p.instruction for p in load_pool(str(run))] == [r["instruction"] for r in kept]
    assert run_method("evol", tmp_path / "e", "--pool", str(run), "--epochs", "1") == 0
    parents = {r["parent_id"] for r in read_jsonl(tmp_path / "e" / "lineage.jsonl")}
    assert parents <= {r["id"] for r in kept}


@pytest.mark.parametrize("body, field", [('{"instruction": 3}\n', "instruction"), ("", "--pool")])
def test_a_bad_pool_is_one_line(tmp_path, run_method, capsys, body, field):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(body)
    assert run_method("evol", tmp_path / "e", "--pool", str(pool)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err
