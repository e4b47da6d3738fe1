"""The prompt format the paper used to query every model on the user-oriented set.

Kept byte-exact with the released prediction files, so responses generated here are comparable
with (and may sit next to) the upstream GPT-3 outputs.
"""
from __future__ import annotations


def build_prompt(instruction: str, input_text: str) -> str:
    """Instruction, blank line, "Input: ...", newline, "Output:"; without input just a newline."""
    if input_text:
        return f"{instruction}\n\nInput: {input_text}\nOutput:"
    return f"{instruction}\nOutput:"
