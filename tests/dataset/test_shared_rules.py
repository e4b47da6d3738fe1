"""The dataset readers take their rules from the writer's modules, so a dataset built from a run
agrees with the run: the classification label follows the run's profile (`lenient_yes`), ids and
instruction identity come from `generation.records`, the chat user turn is `user_content`, and the
manifest is read by `rundir.read_manifest`. Each test writes a run directory by hand and compares
what the readers (and the `datasets` builder) give with what the writer's functions say."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from selfinstruct.generation import records as rules
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.pipeline.profiles import PROFILE_NAMES, get_profile
from selfinstruct.generation.publish import records, splits

import selfinstruct_dataset as sd

ANSWERS = ["yEs", " Yes", "yes", "YES\n", "Yes, it is a classification task.", "yes.", " No", "no", "",
           "Yesterday", "It is yes", "YeS \n"]
TASK = "Determine whether the number is prime."


def _jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _run(folder: Path, answer: str, profile: str | None, *, manifest: bool = True) -> Path:
    """A run whose classification file records only the model's answer text (no `label` bool)."""
    _jsonl(folder / "machine_generated_instructions.jsonl", [{"instruction": TASK}])
    _jsonl(folder / "is_clf_or_not_davinci_template_1.jsonl", [{"instruction": TASK, "is_classification": answer}])
    _jsonl(folder / "all_generated_instances.jsonl", [{"instruction": TASK, "input": "17", "output": "Yes"}])
    if manifest:
        data = {"status": "complete"} if profile is None else {"status": "complete", "profile": profile}
        (folder / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def _writer_label(answer: str, profile: str | None, *, manifest: bool = True) -> bool:
    lenient = get_profile(profile or "default").lenient_yes if manifest else False
    return rules.is_classification_answer(answer, lenient=lenient)


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("answer", ANSWERS)
def test_reader_label_is_the_writers_label_under_the_runs_profile(tmp_path, answer, profile):
    run = _run(tmp_path, answer, profile)
    expected = _writer_label(answer, profile)
    assert [r["is_classification"] for r in records.read_instances(run)] == [expected]
    assert [r["is_classification"] for r in records.read_instructions(run)] == [expected]


@pytest.mark.parametrize("answer", ANSWERS)
def test_folder_without_manifest_reads_with_the_original_scripts_strict_rule(tmp_path, answer):
    run = _run(tmp_path, answer, None, manifest=False)
    assert records.read_instances(run).__next__()["is_classification"] is _writer_label(answer, None, manifest=False)
    assert records.read_instances(run).__next__()["is_classification"] is (answer.strip() in ("Yes", "yes", "YES"))


@pytest.mark.parametrize("profile, manifest, label", [("upstream", True, False), ("default", True, True),
                                                      (None, True, True), (None, False, False)])
def test_mixed_case_yes_follows_the_profile_through_the_builder(tmp_path, profile, manifest, label):
    run = _run(tmp_path / "run", "yEs", profile, manifest=manifest)
    inst = sd.load("instances", run, cache_dir=str(tmp_path / "cache"))["train"]
    assert inst["is_classification"] == [label]
    ins = sd.load("instructions", run, cache_dir=str(tmp_path / "cache"))["train"]
    assert ins["is_classification"] == [label]


def test_recorded_label_wins_over_the_answer_text(tmp_path):
    run = _run(tmp_path, "yEs", "upstream")
    _jsonl(run / "is_clf_or_not_davinci_template_1.jsonl",
           [{"instruction": TASK, "is_classification": "yEs", "id": "instruction_0", "label": True}])
    assert next(records.read_instances(run))["is_classification"] is True


def test_messages_user_turn_is_the_writers_user_content(tmp_path):
    rows = [("  Sort the words in alphabetical order. ", " banana, apple\n", "apple, banana \n"),
            ("Tell me a joke.\n", "   ", " Why did the chicken cross the road?"),
            ("Translate into French:", "Good morning", "Bonjour")]
    _jsonl(tmp_path / "run" / "all_generated_instances.jsonl",
           [{"instruction": i, "input": x, "output": y} for i, x, y in rows])
    expected = [[{"role": "user", "content": rules.user_content(i, x)}, {"role": "assistant", "content": y.strip()}]
                for i, x, y in rows]
    assert [r["messages"] for r in records.read_messages(tmp_path / "run")] == expected
    built = sd.load("messages", tmp_path / "run", cache_dir=str(tmp_path / "cache"))["train"]
    assert built["messages"] == expected


def test_ids_and_instruction_identity_are_the_writers(tmp_path):
    run = tmp_path / "run"
    _jsonl(run / "all_generated_instances.jsonl", [{"instruction": "Write  a haiku about rain.", "input": "",
                                                    "output": "Drops on the tin roof"}])
    _jsonl(run / "is_clf_or_not_davinci_template_1.jsonl",
           [{"instruction": "write a haiku about RAIN.", "is_classification": " No"}])
    row = next(records.read_instances(run))
    assert row["instruction_id"] == rules.derived_instruction_id("Write  a haiku about rain.")
    assert row["is_classification"] is False  # found under the writer's normalized identity
    for name in ("derived_instruction_id", "normalize_instruction", "user_content"):
        assert getattr(records, name) is getattr(rules, name), name
    assert splits.instruction_digest is rules.instruction_digest  # the split hashes the writer's identity


@pytest.mark.parametrize("text, message", [("{not json", "not valid JSON"), ("[1, 2]", "not a JSON object"),
                                           ('{"profile": "nonesuch"}', "unknown profile"),
                                           ('{"profile": 3}', "expected str")])
def test_a_bad_manifest_is_named(tmp_path, text, message):
    run = _run(tmp_path, "yes", None, manifest=False)
    (run / "manifest.json").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as err:
        list(records.read_instances(run))
    assert Path(err.value.file).name == "manifest.json"
