"""Finetuning records: the paper's templates, the colon rule, and the chat/Alpaca formats."""
from __future__ import annotations

import random

from selfinstruct.generation.pipeline import finetune as ft


class FixedChoice(random.Random):
    """A generator whose choice() returns a chosen template index (to test each template)."""

    def __init__(self, index: int) -> None:
        super().__init__(0)
        self.index = index

    def choice(self, seq):
        return seq[self.index]


def test_templates_with_input_exact():
    expected = [
        ("Do it\nInput: x y\nOutput:", " out<|endoftext|>"),
        ("Do it\n\nInput: x y\n\nOutput:", " out<|endoftext|>"),
        ("Task: Do it\nInput: x y\nOutput:", " out<|endoftext|>"),
        ("Do it\n\nx y\n\nOutput:", " out<|endoftext|>"),
        ("Do it\n\nx y\n\n", "out<|endoftext|>"),
        ("Do it\nx y\n\n", "out<|endoftext|>"),
        ("Task: Do it\n\nx y\n\n", "out<|endoftext|>"),
    ]
    got = [ft.encode(" Do it ", " x y ", " out ", FixedChoice(i)) for i in range(7)]
    assert got == expected


def test_templates_without_input_exact():
    expected = [("Do it Output:", " out<|endoftext|>"), ("Do it\nOutput:", " out<|endoftext|>"),
                ("Do it\n\nOutput:", " out<|endoftext|>"), ("Do it\n", "out<|endoftext|>"),
                ("Do it\n\n", "out<|endoftext|>"), ("Task: Do it\n\n", "out<|endoftext|>")]
    assert [ft.encode("Do it", "  ", "out", FixedChoice(i)) for i in range(6)] == expected


def test_strip_field_name_only_for_one_distinct_field():
    assert ft.strip_field_name("Sentence: I like\n\ncats.") == "I like\ncats."
    assert ft.strip_field_name("Sentence 1: a\nSentence 2: b") == "Sentence 1: a\nSentence 2: b"  # two fields ("1", "2")
    assert ft.strip_field_name("Question: q?\nAnswer: a") == "Question: q?\nAnswer: a"
    assert ft.strip_field_name("no field here") == "no field here"


def test_prompt_completion_dedups_shuffles_and_is_seeded():
    insts = [ft.TrainingInstance("instruction_0", "Say hi", "", "hi"),
             ft.TrainingInstance("instruction_0", "Say hi", "", "hi"),
             ft.TrainingInstance("instruction_1", "Add", "Numbers: 1 2", "3")]
    a = ft.prompt_completion_records(insts, random.Random(123))
    b = ft.prompt_completion_records(insts, random.Random(123))
    assert a == b and 2 <= len(a) <= 3
    assert all(r["completion"].endswith("<|endoftext|>") for r in a)
    assert len({(r["prompt"], r["completion"]) for r in a}) == len(a)


def test_messages_and_alpaca():
    insts = [ft.TrainingInstance("instruction_3", " Add the numbers. ", "1 2", " 3 "),
             ft.TrainingInstance("instruction_4", "Say hi", "", "hi"),
             ft.TrainingInstance("instruction_4", "Say hi", "", "hi")]
    msgs = ft.messages_records(insts)
    assert msgs == [
        {"messages": [{"role": "user", "content": "Add the numbers.\n\n1 2"}, {"role": "assistant", "content": "3"}],
         "id": "instruction_3"},
        {"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}],
         "id": "instruction_4"},
    ]
    assert ft.alpaca_records(insts)[0] == {"instruction": "Add the numbers.", "input": "1 2", "output": "3",
                                           "id": "instruction_3"}
    assert len(ft.alpaca_records(insts)) == 2
