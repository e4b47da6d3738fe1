"""A judge call against llama.cpp's real server (chat endpoint, the embedded model as judge)."""
from __future__ import annotations

import pytest

from selfinstruct.generation.cli import main
from selfinstruct.generation.jsonl import read_jsonl

pytestmark = pytest.mark.timeout(600)


def test_judging_through_llama_cpp_writes_one_rating_per_prediction(tmp_path, llamacpp, make_predictions,
                                                                     user_oriented_file):
    preds = make_predictions("m1", 2)
    out = tmp_path / "ratings.jsonl"
    code = main(["evaluate", "user-oriented", "judge", "--predictions", str(preds), "--judge-base-url",
                 llamacpp.base_url, "--judge-api-key", "sk-none", "--judge-model", "smollm2-judge", "--out", str(out),
                 "--tasks-file", str(user_oriented_file), "--judge-max-tokens", "96", "--verdict-retries", "1"])
    assert code == 0
    rows = read_jsonl(out)
    assert len(rows) == 2  # rated, or recorded as unrated when the small judge gives no verdict
