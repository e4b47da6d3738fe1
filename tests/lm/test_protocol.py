"""The model protocol declares what callers read, so no caller has to probe a backend."""
from __future__ import annotations

import ast
from pathlib import Path

from selfinstruct.generation.lm.base import BackendInfo, LanguageModel, LMResult, Usage
from selfinstruct.generation.lm.openai_backend import OpenAICompatibleBackend

ROOT = Path(__file__).resolve().parents[2]
BACKEND_NAMES = {"lm", "backend", "model", "judge_lm"}


class _Bare:
    """Results and nothing else: what a backend looked like before the protocol said more."""

    name = "bare"

    def generate(self, requests, progress=None):
        return [LMResult.failure("none") for _ in requests]

    def close(self):
        pass


class _Declared(BackendInfo, _Bare):
    pass


def test_a_backend_must_declare_what_callers_read():
    assert not isinstance(_Bare(), LanguageModel)
    lm = _Declared()
    assert isinstance(lm, LanguageModel)
    assert (lm.cost_usd, lm.tokenizer, lm.max_context, lm.in_flight, lm.last_error) == (0.0, None, None, None, None)
    assert lm.cost_of(Usage(10, 10)) == 0.0 and lm.concurrency == 1 and dict(lm.stats) == {}


def test_the_openai_backend_prices_each_result_and_counts_its_work():
    lm = OpenAICompatibleBackend("gpt-4o-mini", base_url="http://127.0.0.1:9/v1", prompts_per_request=3)
    try:
        assert isinstance(lm, LanguageModel)
        assert lm.cost_of(Usage(1_000_000, 0)) > 0 and lm.prompts_per_request == 3
        assert lm.tokenizer is None and lm.in_flight == 0
    finally:
        lm.close()


def _probes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            target = node.args[0] if node.args else None
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
            if name in BACKEND_NAMES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_caller_probes_a_backend_with_getattr():
    files = [p for d in ("generation", "evaluation") for p in (ROOT / d).rglob("*.py")]
    # the transformers backend reads torch/transformers objects it does not own; it is not a caller
    files = [p for p in files if p.name != "transformers_backend.py"]
    assert [hit for p in files for hit in _probes(p)] == []
