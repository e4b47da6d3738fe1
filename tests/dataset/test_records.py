"""Pure parts of the dataset packaging: ids, split assignment, prompt->instruction matching,
secret scrubbing, card front matter, statistics."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.publish import records, splits
from selfinstruct.generation.publish.card import (CardConfig, CardInfo, front_matter, is_secret_key, parse_front_matter,
                                                  scrub, size_category)
from selfinstruct.generation.publish.stats import compute_stats, leading_verb


def test_derived_ids_are_stable_and_ignore_case_and_spacing():
    a = records.derived_instruction_id("Write a poem about  the sea.")
    assert a == records.derived_instruction_id("write a poem about the sea.")
    assert a != records.derived_instruction_id("Write a poem about the moon.")
    assert a.startswith("instruction_sha256_") and len(a) == len("instruction_sha256_") + 16


def test_split_fraction_is_close_to_requested_and_deterministic():
    texts = [f"Task number {i}: do something useful." for i in range(4000)]
    chosen = [t for t in texts if splits.split_of(t, 0.1) == "validation"]
    assert 0.08 < len(chosen) / len(texts) < 0.12
    assert chosen == [t for t in texts if splits.split_of(t, 0.1) == "validation"]
    assert all(splits.split_of(t, 0.0) == "train" for t in texts[:50])
    # Growing the fraction only ever moves more instructions out of train.
    assert set(chosen) <= {t for t in texts if splits.split_of(t, 0.2) == "validation"}


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=80).filter(lambda s: s.strip()), st.sampled_from(["", "  ", "\n"]))
def test_split_ignores_whitespace_and_case(text, pad):
    spaced = pad + "  ".join(text.casefold().split()) + pad
    assert splits.split_of(text, 0.5) == splits.split_of(spaced, 0.5)


def test_matcher_finds_instruction_behind_every_template():
    instr = ["Sort the words in alphabetical order.", "Sort the words in alphabetical order and count them.",
             "Tell me a joke."]
    m = splits.InstructionMatcher(instr)
    assert m.find("Sort the words in alphabetical order.\nInput: b, a\n\nOutput:") == instr[0]
    assert m.find("Task: Sort the words in alphabetical order and count them.\n\n") == instr[1]
    assert m.find("Tell me a joke. Output:") == instr[2]
    assert m.find("Something else entirely") is None


@pytest.mark.parametrize("answer, label", [(" Yes", True), ("yes", True), ("YES\n", True), (" No", False),
                                           ("Yes, it is", False), ("", False), ("yEs", False)])
def test_original_scripts_answer_rule(tmp_path, answer, label):
    """A folder without a manifest was written by the original scripts: exactly Yes/yes/YES."""
    (tmp_path / "all_generated_instances.jsonl").write_text(
        json.dumps({"instruction": "Is it prime?", "input": "7", "output": "Yes"}) + "\n")
    (tmp_path / "is_clf_or_not_davinci_template_1.jsonl").write_text(
        json.dumps({"instruction": "Is it prime?", "is_classification": answer}) + "\n")
    assert next(records.read_instances(tmp_path))["is_classification"] is label


def test_reader_errors_name_file_line_and_field(tmp_path):
    (tmp_path / "all_generated_instances.jsonl").write_text(
        json.dumps({"instruction": "a b c d", "input": "", "output": "x"}) + "\n"
        + json.dumps({"instruction": "a b c d", "input": 3, "output": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        list(records.read_instances(tmp_path))
    assert str(info.value).endswith("all_generated_instances.jsonl:2: input: expected str, got int")


def test_torn_tail_of_append_only_log_is_ignored(tmp_path):
    path = tmp_path / "machine_generated_instructions.jsonl"
    path.write_text(json.dumps({"instruction": "Name three rivers in Europe.", "most_similar": {},
                                "avg_similarity_score": 0.1}) + '\n{"instruction": "Cut sh', encoding="utf-8")
    rows = list(records.read_instructions(tmp_path))
    assert [r["instruction"] for r in rows] == ["Name three rivers in Europe."]


@pytest.mark.parametrize("key", ["api_key", "OPENAI_API_KEY", "openaiApiKey", "hf_token", "HF_TOKEN", "token",
                                 "access_token", "client_secret", "password", "Authorization", "auth",
                                 "private_key", "session_key"])
def test_secret_keys_are_recognised(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["max_tokens", "prompt_tokens", "tokens_per_minute", "completion_tokens", "model",
                                 "author", "rouge_threshold", "base_url"])
def test_ordinary_keys_are_kept(key):
    assert not is_secret_key(key)


def test_scrub_redacts_secret_shaped_values_anywhere():
    obj = {"note": "use sk-abcdefghijklmnop1234 here", "list": ["hf_abcdefghijklmnopqrstu"],
           "url": "https://me:pw123456@host/x", "n": 3, "nested": {"apiKey": "x" * 20}}
    out = scrub(obj)
    assert out == {"note": "use [redacted] here", "list": ["[redacted]"], "url": "https://[redacted]@host/x",
                   "n": 3, "nested": {}}


def test_front_matter_lists_configs_and_default():
    info = CardInfo(pretty_name="x", default="b", configs=[
        CardConfig("a", {"train": ["a/train-00000-of-00001.parquet"]}, {"train": 5}),
        CardConfig("b", {"train": ["b/t0.parquet", "b/t1.parquet"], "validation": ["b/v.parquet"]},
                   {"train": 20_000, "validation": 10}),
    ])
    fm = front_matter(info)
    assert fm["configs"][0] == {"config_name": "a", "data_files": [{"split": "train",
                                                                    "path": "a/train-00000-of-00001.parquet"}]}
    assert fm["configs"][1]["default"] is True
    assert fm["configs"][1]["data_files"][0]["path"] == ["b/t0.parquet", "b/t1.parquet"]
    assert fm["size_categories"] == ["10K<n<100K"]
    assert parse_front_matter("---\na: 1\n---\nbody") == {"a": 1}
    assert [size_category(n) for n in (0, 999, 1000, 52_445, 2_000_000)] == \
        ["n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]


def test_statistics_are_measured_from_the_rows():
    rows = [{"instruction": "Write a poem.", "input": "", "output": "one two three", "is_classification": False},
            {"instruction": "Write a poem.", "input": "sea", "output": "a b", "is_classification": False},
            {"instruction": "Classify the review.", "input": "good film", "output": "Positive",
             "is_classification": True}]
    stats = compute_stats(rows, None, ["Write a poem about love.", "Classify the sentiment."], progress=False)
    assert (stats.instructions, stats.instances, stats.classification, stats.empty_input) == (2, 3, 1, 1)
    assert stats.instruction_words == [3, 3] and stats.output_words == [3, 2, 1] and stats.input_words == [1, 2]
    assert stats.verbs == [("write", 1), ("classify", 1)]
    # rouge_score: "write a poem" vs "write a poem about love": LCS 3, P=1, R=3/5 -> F=0.75
    assert stats.seed_rouge[0] == pytest.approx(0.75)
    assert leading_verb("  (Optional) do it") == "optional" and leading_verb("123 go") is None
