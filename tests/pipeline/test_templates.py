"""Prompt building: the exact text the model sees, for fixed samples."""
from __future__ import annotations

import random

from selfinstruct.generation.lm.base import SamplingParams
from selfinstruct.generation.pipeline import templates
from selfinstruct.generation.pipeline.sampling import round_rng, sample_prompt_instructions


def test_bootstrap_prompt_exact_text():
    prompt = templates.bootstrap_prompt(["Say  hi\n to me:", "Add two numbers.", " Sort the list: "])
    assert prompt == ("Come up with a series of tasks:\n"
                      "1. Say hi to me\n"
                      "2. Add two numbers.\n"
                      "3. Sort the list\n"
                      "4.")


def test_classify_prompt_ends_with_the_task_and_question():
    p = templates.classify_prompt("  Is this review positive?  ")
    assert p.startswith("Can the following task be regarded as a classification task with finite output labels?\n\n"
                        "Task: Decide whether the following email is spam or not spam.\nIs it classification? Yes\n\n")
    assert p.endswith("\n\nTask: Is this review positive?\nIs it classification?")
    data = templates.load_prompt_data("classify")
    answers = [d["answer"] for d in data["demos"]]
    assert len(answers) >= 30 and "Yes" in answers and "No" in answers
    assert p.count("Is it classification?") == len(answers) + 1


def test_instance_prompts_output_first_and_input_first():
    clf = templates.instances_prompt("Tell if the sentence is sarcastic.", is_classification=True)
    gen = templates.instances_prompt("Write a limerick about a cat.", is_classification=False)
    assert clf.endswith("\n\nTask: Tell if the sentence is sarcastic.\n")
    assert gen.endswith("\n\nTask: Write a limerick about a cat.\n")
    assert "Class label:" in clf and "Example 1" not in clf
    assert "Example 1\n" in gen and "Class label:" not in gen
    assert len(templates.load_prompt_data("instances_output_first")["demos"]) >= 15
    assert len(templates.load_prompt_data("instances_input_first")["demos"]) >= 10
    # a demo block is "Task: ...\n<body>" separated by blank lines
    first = gen.split("\n\n")[1]
    assert first.startswith("Task: ") and "\nOutput:" in first


def test_sampling_two_machine_six_seeds_shuffled_and_reproducible():
    seeds = [f"seed {i}" for i in range(20)]
    machine = [f"machine {i}" for i in range(5)]
    a = sample_prompt_instructions(random.Random(42), seeds, machine)
    b = sample_prompt_instructions(random.Random(42), seeds, machine)
    assert a == b and len(a) == 8 and len(set(a)) == 8
    assert sum(x.startswith("machine") for x in a) == 2
    # with an empty machine pool: all 8 from seeds, and the same draws as upstream's code path
    rng = random.Random(42)
    expected = rng.sample(seeds, 8)
    rng.shuffle(expected)
    assert sample_prompt_instructions(random.Random(42), seeds, []) == expected
    # default profile: a round's generator depends only on (seed, round)
    assert round_rng(1, 3).random() == round_rng(1, 3).random() != round_rng(1, 4).random()


def test_chat_framing_carries_the_same_prompt():
    params = SamplingParams(max_tokens=5)
    req = templates.frame("bootstrap", "Come up with a series of tasks:\n1. A\n2.", params, "chat")
    assert req.messages[0]["role"] == "system" and "continue" in req.messages[0]["content"].lower()
    assert req.messages[1] == {"role": "user", "content": "Come up with a series of tasks:\n1. A\n2."}
    plain = templates.frame("bootstrap", "x", params, "completion")
    assert plain.prompt == "x" and plain.messages is None
