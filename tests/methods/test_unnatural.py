"""Unnatural Instructions against the local scripted server: every filter, the paraphrase links,
replay equal to the run, the seed examples and bad input."""
from __future__ import annotations

import json

import pytest

from selfinstruct.generation.pipeline.methods.parsing import parse_example, parse_numbered
from selfinstruct.generation.similarity import RougeLIndex

from .conftest import SECRET, read_jsonl


def test_parse_example_needs_all_three_fields_once():
    assert parse_example(" Sort it.\nInput: 3 1 2\nConstraints: Ascending.\n\nExample 5") == ("Sort it.", "3 1 2", "Ascending.")
    assert parse_example(" Sort it.\nInput: 3 1 2") is None
    assert parse_example(" Sort it.\nInput:\nConstraints: x") is None
    assert parse_example(" A.\nInput: b\nInput: c\nConstraints: d") is None


def test_parse_numbered_stops_where_the_numbering_breaks():
    assert parse_numbered(" First way.\n2. Second way.\n4. Skipped.", 5) == ["First way.", "Second way."]
    assert parse_numbered(" One.\n2. Two.\n3. Three.", 2) == ["One.", "Two."]


def test_a_run_fires_every_filter_and_links_each_paraphrase(tmp_path, run_method, server):
    out = tmp_path / "u"
    assert run_method("unnatural", out, "--num-examples", "30") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "unnatural" and manifest["status"] == "complete"
    rejected = manifest["counts"]["rejected"]
    for rule in ("core:unparseable", "core:exact_duplicate", "output:empty_output", "paraphrase:exact_duplicate"):
        assert rejected.get(rule, 0) > 0, rule
    kept = {r["id"]: r for r in read_jsonl(out / "machine_generated_instructions.jsonl")}
    instances = {r["id"]: r for r in read_jsonl(out / "all_generated_instances.jsonl")}
    paraphrases = read_jsonl(out / "paraphrases.jsonl")
    assert paraphrases and len(kept) == manifest["counts"]["output"]["kept"]
    for p in paraphrases:
        source = instances[p["source_id"]]
        assert p["source_instruction"] == kept[p["source_id"]]["instruction"] == source["instruction"]
        assert (p["input"], p["output"]) == (source["input"], source["output"]) and p["instruction"] != source["instruction"]
        assert instances[p["id"]]["instruction"] == p["instruction"]
    # every kept example has its constraints and an output; exact copies of an example never twice
    pairs = [(r["instruction"], r["input"]) for r in instances.values() if r["id"].startswith("instruction_")]
    assert len(pairs) == len(set(pairs)) and all(r["constraints"] for r in kept.values())
    # outputs were asked for greedily, from instruction and input alone
    outputs = [b for b in server.received if b["prompt"].startswith("Instruction:")]
    assert outputs and all(b["temperature"] == 0 and "Constraints" not in b["prompt"] for b in outputs)
    cores = [b for b in server.received if "Write one more example" in b["prompt"]]
    assert all(b["prompt"].count("\nConstraints: ") == 3 for b in cores)
    assert SECRET not in "".join(p.read_text() for p in out.rglob("*.json*"))


def test_rouge_l_dedup_drops_near_copies(tmp_path, run_method):
    out = tmp_path / "u"
    assert run_method("unnatural", out, "--num-examples", "30", "--paraphrases", "0", "--dedup", "rouge-l",
                      "--threshold", "0.5") == 0
    rejected = json.loads((out / "manifest.json").read_text())["counts"]["rejected"]
    assert rejected.get("core:rouge_l", 0) > 0
    kept = [r["instruction"] for r in read_jsonl(out / "machine_generated_instructions.jsonl")]
    index = RougeLIndex(threshold=0.5)
    assert all(index.admit(k).kept for k in kept)  # no kept pair above the threshold


def test_the_packaged_seed_examples():
    from selfinstruct.generation.pipeline.methods.cli import _packaged_examples
    from selfinstruct.generation.pipeline.methods.unnatural import load_seed_examples

    seeds = load_seed_examples(_packaged_examples())
    assert len(seeds) == 15 and len({s.id for s in seeds}) == 15
    index = RougeLIndex(threshold=0.7)
    assert all(index.admit(s.instruction).kept for s in seeds)


@pytest.mark.parametrize("line, field", [('{"id": "a", "instruction": "x", "input": "y"}', "constraints"),
                                         ('{"id": "a", "instruction": "", "input": "y", "constraints": "z"}', "instruction")])
def test_a_bad_seed_example_is_one_line(tmp_path, run_method, capsys, line, field):
    bad = tmp_path / "seeds.jsonl"
    good = '{"id": "s%d", "instruction": "Do %d.", "input": "i", "constraints": "c"}'
    bad.write_text("\n".join([good % (1, 1), good % (2, 2), line, good % (3, 3)]) + "\n")
    assert run_method("unnatural", tmp_path / "u", "--seed-examples", str(bad)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{bad}:3" in err and field in err
    assert not (tmp_path / "u" / "requests.jsonl").exists()


def test_a_run_of_one_method_is_not_resumed_as_another(tmp_path, run_method, capsys):
    out = tmp_path / "u"
    assert run_method("unnatural", out, "--num-examples", "3", "--paraphrases", "0") == 0
    assert run_method("evol", out) == 2
    assert "--method" in capsys.readouterr().err
