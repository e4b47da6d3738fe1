"""Both prompt encodings, character for character, and fitting long prompts into a context."""
from __future__ import annotations

import pytest

from selfinstruct.evaluation.superni.data import Example, Instance, Task, load_task
from selfinstruct.evaluation.superni.prompts import (CharTokenCounter, HFTokenCounter, build_prompt, get_format,
                                                     prompt_formats)

TASK = Task(
    name="task9_demo", definition="  Answer the question  ", category="Question Answering",
    positive_examples=(Example("What is 2+2", "4"), Example("Capital of France?", "Paris."), Example("c", "d")),
    instances=(Instance("task9-1", " Who wrote Hamlet ", ("Shakespeare",)),),
)


def test_self_instruct_exact_text():
    p = build_prompt(TASK, TASK.instances[0], "self-instruct")
    assert p.text == "Answer the question.\n\nInput: Who wrote Hamlet.\n\nOutput:"
    assert p.examples_used == 0 and not p.truncated


def test_self_instruct_keeps_existing_punctuation(superni_dir):
    task = load_task(superni_dir / "tasks" / "task648_answer_generation.json")
    p = build_prompt(task, task.instances[0], "self-instruct")
    assert p.text == (
        "You will see a sentence and a given pronoun. Answer with the word in the sentence to which the pronoun "
        "is referring.\n\nInput: text: the city councilmen refused the demonstrators a permit because they "
        "feared violence.; pronoun: they.\n\nOutput:")


def test_tk_instruct_exact_text_with_two_examples():
    p = build_prompt(TASK, TASK.instances[0], "tk-instruct")
    assert p.text == (
        "Definition: Answer the question.\n\n"
        " Positive Example 1 -\nInput: What is 2+2.\n Output: 4.\n\n"
        " Positive Example 2 -\nInput: Capital of France?\n Output: Paris.\n\n"
        "Now complete the following example -\nInput: Who wrote Hamlet.\nOutput: ")
    assert p.examples_used == 2


def test_tk_instruct_k_configurable():
    p0 = build_prompt(TASK, TASK.instances[0], "tk-instruct", num_pos_examples=0)
    assert p0.text == "Definition: Answer the question.\n\nNow complete the following example -\nInput: Who wrote Hamlet.\nOutput: "
    assert build_prompt(TASK, TASK.instances[0], "tk-instruct", num_pos_examples=3).examples_used == 3


def test_formats_are_data():
    assert set(prompt_formats()) == {"self-instruct", "tk-instruct"}
    assert get_format("tk-instruct").num_pos_examples == 2
    with pytest.raises(ValueError):
        get_format("alpaca")


LONG = Task(name="task9_long", definition="Summarise the passage in one sentence", category="Title Generation",
            positive_examples=(Example("short example input " * 5, "a title"),),
            instances=(Instance("task9-2", "word " * 2000 + "THE END", ("x",)),))


@pytest.mark.parametrize("fmt", ["self-instruct", "tk-instruct"])
def test_truncation_cuts_input_keeps_cue_char_counter(fmt):
    counter = CharTokenCounter()
    p = build_prompt(LONG, LONG.instances[0], fmt, counter=counter, max_tokens=120)
    assert p.truncated and counter.count(p.text) <= 120
    cue = get_format(fmt).output_cue
    assert p.text.endswith(get_format(fmt).input_suffix + cue)
    assert "Summarise the passage in one sentence." in p.text  # definition kept whole
    assert "THE END" not in p.text  # the tail of the input is what goes
    # as in Tk-Instruct, a demonstration is only added if it fits beside the *whole* input
    assert p.examples_used == 0


def test_truncation_with_model_tokenizer(tiny_bpe_dir):
    from transformers import AutoTokenizer

    counter = HFTokenCounter(AutoTokenizer.from_pretrained(tiny_bpe_dir))
    full = build_prompt(LONG, LONG.instances[0], "self-instruct", counter=counter, max_tokens=100_000)
    assert not full.truncated and full.text.endswith("THE END.\n\nOutput:")
    for budget in (60, 200, 500):
        p = build_prompt(LONG, LONG.instances[0], "self-instruct", counter=counter, max_tokens=budget)
        assert p.truncated and p.text.endswith("\n\nOutput:") and counter.count(p.text) <= budget
        assert p.text.startswith("Summarise the passage in one sentence.\n\nInput: word")


def test_demonstrations_dropped_before_input_is_cut():
    counter = CharTokenCounter()
    task = Task(name="t", definition="Do it", category="c",
                positive_examples=(Example("e " * 200, "o"),), instances=(Instance("t-1", "short input", ("x",)),))
    p = build_prompt(task, task.instances[0], "tk-instruct", counter=counter, max_tokens=60)
    assert p.examples_used == 0 and not p.truncated and "short input." in p.text


def test_tiny_budget_still_ends_with_cue():
    counter = CharTokenCounter()
    p = build_prompt(LONG, LONG.instances[0], "self-instruct", counter=counter, max_tokens=8)
    assert p.text.endswith("Output:") and counter.count(p.text) <= 8


class _WithSpecialToken(CharTokenCounter):
    """Counts one extra token per text, as a tokenizer that adds BOS does."""

    def count(self, text: str) -> int:
        return super().count(text) + 1


@pytest.mark.parametrize("budget", [3, 9, 10, 11, 40, 333])
def test_fitting_terminates_and_fits_with_special_tokens(budget):
    counter = _WithSpecialToken()
    p = build_prompt(LONG, LONG.instances[0], "tk-instruct", counter=counter, max_tokens=budget)
    assert p.text.endswith("Output: ")
    if budget >= counter.count("\nOutput: ") + counter.count("Now complete the following example -\nInput: "):
        assert counter.count(p.text) <= budget
