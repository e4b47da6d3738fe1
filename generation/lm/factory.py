"""Turn a `BackendConfig` (the shared model flags) into a backend.

"auto" rules, in order:
1. `--base-url` on the command line -> the OpenAI-compatible client, whatever the model name.
2. the default model "smollm2" -> the embedded SmolLM2-135M-Instruct (local transformers), even
   when $OPENAI_BASE_URL is set, so the zero-flag command never leaves the machine.
3. $OPENAI_BASE_URL set, or an OpenAI API model name (gpt-*, o1*, o3*, o4*, davinci*,
   babbage*, text-*) -> the OpenAI-compatible client.
4. anything else (a local checkpoint folder or a Hub id) -> local transformers.
"""
from __future__ import annotations

import os

from ..errors import InputError
from .base import LanguageModel
from .config import EMBEDDED_MODEL, BackendConfig

OPENAI_MODEL_PREFIXES = ("gpt-", "o1", "o3", "o4", "davinci", "babbage", "text-", "chatgpt-")


def looks_like_openai_model(name: str) -> bool:
    return name.startswith(OPENAI_MODEL_PREFIXES)


def resolve_backend_kind(config: BackendConfig) -> str:
    """"openai" or "transformers" for this config (pure; reads only the environment)."""
    if config.backend in ("openai", "transformers"):
        return config.backend
    if config.backend != "auto":
        raise InputError(f"unknown backend {config.backend!r} (auto, openai, transformers)", field="--backend")
    if config.base_url:
        return "openai"
    if config.model == EMBEDDED_MODEL:
        return "transformers"
    if os.environ.get("OPENAI_BASE_URL") or looks_like_openai_model(config.model):
        return "openai"
    return "transformers"


def _retry_delays_from_env() -> dict:
    """SELFINSTRUCT_RETRY_BASE_DELAY / _MAX_DELAY (seconds): lets test suites that go through
    `make_backend` against a faulty local server retry in milliseconds instead of seconds."""
    out = {}
    for name, key in (("SELFINSTRUCT_RETRY_BASE_DELAY", "base_delay"), ("SELFINSTRUCT_RETRY_MAX_DELAY", "max_delay")):
        value = os.environ.get(name)
        if value:
            try:
                out[key] = float(value)
            except ValueError:
                raise InputError(f"not a number: {value!r}", field=name) from None
    return out


def make_backend(config: BackendConfig, *, prompts_per_request: int = 1) -> LanguageModel:
    """The backend `config` names. `prompts_per_request` packs completion prompts into one HTTP
    request where the backend can (a run's setting, not a connection's, so not in the config)."""
    if config.batch_mode:  # a Batch API, or files for an offline batch runner (docs/batch.md)
        from .batch_backend import BatchAPIBackend

        return BatchAPIBackend(config)
    kind = resolve_backend_kind(config)
    if kind == "openai":
        from .openai_backend import OpenAICompatibleBackend

        try:
            return OpenAICompatibleBackend(
                config.model,
                base_url=config.base_url,
                api_key=config.api_key,
                api=config.api,
                concurrency=config.concurrency,
                requests_per_minute=config.requests_per_minute,
                tokens_per_minute=config.tokens_per_minute,
                timeout=config.timeout,
                max_retries=config.max_retries,
                price_table=config.price_table,
                prompts_per_request=prompts_per_request,
                **_retry_delays_from_env(),
            )
        except ValueError as exc:
            raise InputError(str(exc), field="--api-key" if "API key" in str(exc) else "--model") from None
    from .transformers_backend import TransformersBackend

    if config.model == EMBEDDED_MODEL:
        from .embedded import load_embedded

        return load_embedded(batch_size=config.batch_size, device=config.device, dtype=config.dtype)
    return TransformersBackend(config.model, batch_size=config.batch_size, device=config.device, dtype=config.dtype)
