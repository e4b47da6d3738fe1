"""A SuperNI run against llama.cpp's real server: predictions, official metrics, a report."""
from __future__ import annotations

import json

import pytest

from selfinstruct.generation.cli import main

pytestmark = pytest.mark.timeout(600)


def test_superni_run_through_llama_cpp(tmp_path, llamacpp, superni_dir):
    out = tmp_path / "run"
    code = main(["evaluate", "superni", "run", "--data-dir", str(superni_dir), "--tasks",
                 "task1344_glue_entailment_classification", "--max-instances", "2", "--max-new-tokens", "8",
                 "--out", str(out), "--no-progress", "--model", "smollm2-llamacpp", "--api", "completions",
                 "--base-url", llamacpp.base_url, "--api-key", "sk-none"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["count"] == 2 and metrics["missing"] == 0 and 0 <= metrics["rougeL"] <= 100
