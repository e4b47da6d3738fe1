"""Parsing of each step's responses, both profiles, including upstream's quirks."""
from __future__ import annotations

import random

from selfinstruct.generation.pipeline.filters import filter_instances, invalid_reason
from selfinstruct.generation.pipeline.parsing import (
    is_classification_answer, parse_instances, parse_instruction_response, strip_chat_echo,
)
from selfinstruct.generation.pipeline.profiles import DEFAULT, UPSTREAM

RESPONSE = " Write a poem about SQL and JSON.\n10. Give me a recipe\n11.Name three rivers in Europe please.\n12 . Explain it"


def test_split_and_capitalize_quirk():
    up, _ = parse_instruction_response(RESPONSE, "stop", UPSTREAM)
    # upstream: str.capitalize lowercases the rest; "11.Name" is not a marker, so it merges into item 10
    assert up == ["Write a poem about sql and json.", "Give me a recipe 11.name three rivers in europe please.",
                  "Explain it"]
    fixed, _ = parse_instruction_response(RESPONSE, "stop", DEFAULT)
    assert fixed == ["Write a poem about SQL and JSON.", "Give me a recipe", "Name three rivers in Europe please.",
                     "Explain it"]


def test_decimal_number_is_not_a_marker_in_default():
    text = " Convert 16.5 degrees.\n3.5 liters is what unit\n10. Next task here now"
    fixed, _ = parse_instruction_response(text, "stop", DEFAULT)
    assert fixed[0] == "Convert 16.5 degrees. 3.5 liters is what unit"
    assert fixed[1] == "Next task here now"


def test_stop_sequences_sixteen_point_five():
    # "16." fires inside "16.5" upstream (quirk 3); the default list only stops at a line start
    assert "16." in UPSTREAM.bootstrap_stop
    assert not any(s in "Heat it to 16.5 degrees" for s in DEFAULT.bootstrap_stop)
    assert any(s in "a\n16. b" for s in DEFAULT.bootstrap_stop)


def test_length_truncated_response():
    up, dropped = parse_instruction_response(" First task is here.\n10. Second task is cut", "length", UPSTREAM)
    assert up == [] and [d.rule for d in dropped] == ["length_truncated", "length_truncated"]
    fixed, dropped = parse_instruction_response(" First task is here.\n10. Second task is cut", "length", DEFAULT)
    assert fixed == ["First task is here."] and [d.candidate for d in dropped] == ["Second task is cut"]
    assert parse_instruction_response("anything", "error", DEFAULT) == ([], [])


def test_chat_reply_with_preamble_and_markers():
    reply = "Here are more tasks:\n9. Plan a picnic for six friends.\n10. Describe a sunset over the sea."
    got, _ = parse_instruction_response(reply, "stop", DEFAULT, chat=True)
    assert got == ["Plan a picnic for six friends.", "Describe a sunset over the sea."]


def test_classification_answer():
    assert is_classification_answer(" Yes", UPSTREAM) and is_classification_answer("YES\n", UPSTREAM)
    assert not is_classification_answer(" Yes.", UPSTREAM) and not is_classification_answer(" yEs", UPSTREAM)
    assert is_classification_answer(" Yes.", DEFAULT) and is_classification_answer("yEs, it is", DEFAULT)
    assert not is_classification_answer(" No", DEFAULT) and not is_classification_answer("", DEFAULT)
    assert not is_classification_answer(" Yesterday", DEFAULT)


def test_generation_instances_example_chunks():
    raw = ("Preamble text\nExample 1\nInput: Sentence: I like it.\nOutput: positive\nInput 2: extra\n"
           "Example 2.\nOutput: no input here\nExample 3\nQuestion: q?\nOutput 1: a\nOutput 2: b")
    pairs, dropped = parse_instances(raw, "stop", False)
    assert pairs == [("", "Preamble text"), ("Sentence: I like it.", "positive"), ("", "no input here"),
                     ("Question: q?", "a")]
    assert dropped == []


def test_generation_instances_output_marker_only_and_nothing():
    assert parse_instances("  Output : just this\n", "stop", False)[0] == [("", "just this")]
    pairs, dropped = parse_instances("no markers at all", "stop", False)
    assert pairs == [] and dropped[0].rule == "unparseable"


def test_classification_instances():
    raw = "Class label: Positive\nReview: Great.\nMore text.\nClass label: Negative\nClass label: Mixed\nReview: So so"
    pairs, _ = parse_instances(raw, "stop", True)
    assert pairs == [("Review: Great.\nMore text.", "Positive"), ("", "Negative"), ("Review: So so", "Mixed")]
    assert parse_instances("Label: x", "stop", True)[0] == []


def test_length_drops_only_the_last_instance():
    raw = "Class label: A\nText: one\nClass label: B\nText: tw"
    pairs, dropped = parse_instances(raw, "length", True)
    assert pairs == [("Text: one", "A")] and dropped[0].rule == "length_truncated"


def test_invalid_instances():
    assert invalid_reason("same", "same") == "input_equals_output"
    assert invalid_reason("x", "") == "empty_output"
    assert invalid_reason("Sentence:", "y") == "ends_with_colon"
    assert invalid_reason("x", "The answer is: ") == "ends_with_colon"
    assert invalid_reason("", "fine") is None


def test_conflicting_outputs_drop_the_task_and_duplicates_collapse():
    kept, dropped = filter_instances([("a", "1"), ("b", "2"), ("a", "3")], random.Random(0))
    assert kept == [] and {d.rule for d in dropped} == {"conflicting_outputs"}
    # empty inputs never conflict; exact duplicates collapse to the first occurrence
    kept, dropped = filter_instances([("", "1"), ("", "2"), ("b", "2"), ("b", "2")], random.Random(0))
    assert sorted(kept) == [("", "1"), ("", "2"), ("b", "2")]
    assert [d.rule for d in dropped] == ["duplicate"]


def test_cap_of_five_is_a_seeded_sample():
    pairs = [(f"in {i}", f"out {i}") for i in range(8)]
    kept, dropped = filter_instances(pairs, random.Random(123))
    assert len(kept) == 5 and len(dropped) == 3 and {d.rule for d in dropped} == {"over_cap"}
    again, _ = filter_instances(pairs, random.Random(123))
    assert again == kept
    # the result does not depend on hash order: same answer as sampling the ordered list
    assert kept == random.Random(123).sample(pairs, 5)


def test_chat_echo_is_stripped():
    assert strip_chat_echo("Task: Do X\nExample 1\nOutput: y", "Do X") == "Example 1\nOutput: y"
    assert strip_chat_echo("Example 1\nOutput: y", "Do X") == "Example 1\nOutput: y"
