"""Exact copies: rouge_score's tokens are [a-z0-9] runs, so every copy of a text without them
scores 0 and passes the near-duplicate test. The default profile and `selfinstruct filter` drop
copies (after whitespace collapsing and casefolding) under their own rule; the upstream profile
keeps the original's decisions."""
from __future__ import annotations

import json

import pytest

from selfinstruct.generation.cli import main
from selfinstruct.generation.exact_dups import exact_key, invisible_to_rouge
from selfinstruct.generation.pipeline.filters import InstructionFilter
from selfinstruct.generation.pipeline.profiles import get_profile
from doubles.localserver import LocalServer

from .conftest import read_jsonl

CHINESE = "请写一首关于大海的诗。"
RUSSIAN = "Напишите короткое стихотворение о море"


def test_the_key_collapses_whitespace_and_case():
    assert exact_key("  Напишите\tкороткое  СТИХОТВОРЕНИЕ о море ") == exact_key(RUSSIAN)
    assert invisible_to_rouge(CHINESE) and invisible_to_rouge(RUSSIAN)
    assert not invisible_to_rouge("Write 诗")


def test_filter_drops_exact_non_latin_copies_and_warns(tmp_path, capsys):
    texts = [CHINESE, "Write a poem about the sea at night.", CHINESE + " ", RUSSIAN,
             RUSSIAN.upper(), "请写一首关于高山的诗。"]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"instruction": t}, ensure_ascii=False) + "\n" for t in texts))
    out = tmp_path / "kept.jsonl"
    assert main(["filter", str(inp), "--out", str(out), "--no-progress"]) == 0
    assert [r["instruction"] for r in read_jsonl(out)] == [texts[0], texts[1], texts[3], texts[5]]
    rejected = read_jsonl(tmp_path / "kept.rejected.jsonl")
    assert [(r["line"], r["rule"], r["score"], r["nearest"]["line"]) for r in rejected] == [
        (3, "exact_duplicate", 0.0, 1), (5, "exact_duplicate", 0.0, 4)]
    err = capsys.readouterr().err
    assert "warning: 5 record(s) have no a-z/0-9 characters" in err and "2 exact duplicates" in err


def test_filter_drops_copies_of_the_against_pool(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"instruction": CHINESE}, ensure_ascii=False) + "\n")
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"instruction": CHINESE}, ensure_ascii=False) + "\n")
    assert main(["filter", str(inp), "--out", str(tmp_path / "k.jsonl"), "--against", str(seeds),
                 "--no-progress"]) == 0
    assert read_jsonl(tmp_path / "k.jsonl") == []
    assert read_jsonl(tmp_path / "k.rejected.jsonl")[0]["nearest"]["file"] == str(seeds)


@pytest.mark.parametrize("batched", [True, False])
def test_instruction_filter_rules_by_profile(batched):
    # threshold 1.0, exclusive: ROUGE-L rejects nothing, so only the exact rule can drop a copy
    cands = ["Write a haiku about autumn leaves.", "write a haiku  about autumn leaves.",
             "Write a haiku about the sea.", "Give three tips for better sleep."]
    seeds = ["Give three tips for better sleep."]

    def rules(profile: str) -> list:
        f = InstructionFilter(seeds, threshold=1.0, exact_duplicates=get_profile(profile).drop_exact_duplicates,
                              top_k_order="stable")
        verdicts = f.judge_many(cands) if batched else [f.judge(c) for c in cands]
        return [v.rule for v in verdicts]

    assert rules("default") == [None, "exact_duplicate", None, "exact_duplicate"]
    assert rules("upstream") == [None, None, None, None]


def _bootstrap_responder(body):
    if "prompt" in body and body["prompt"].rstrip().endswith("9."):
        return (" Write a haiku about autumn leaves falling.\n10. Write a haiku about  Autumn leaves falling.\n"
                "11. Describe how rainbows form after the rain.\n")
    return "No"


def test_generate_default_profile_names_the_rule(tmp_path, generate):
    out = tmp_path / "run"
    with LocalServer(_bootstrap_responder) as srv:
        assert generate(out, "--concurrency", "1", step="bootstrap", num=2, base_url=srv.base_url) == 0
    (copy,) = read_jsonl(out / "rejected.jsonl")
    assert copy["candidate"] == "Write a haiku about Autumn leaves falling." and copy["rule"] == "exact_duplicate"
    assert copy["nearest"] == "Write a haiku about autumn leaves falling." and copy["score"] == 1.0
    counts = json.loads((out / "manifest.json").read_text())["counts"]["bootstrap"]
    assert counts["kept"] == 2 and counts["rejected"] == {"exact_duplicate": 1}
