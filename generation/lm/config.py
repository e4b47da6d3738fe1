"""How a user names a model on the command line, as plain data.

Every subcommand that talks to a model (generate, evaluate superni run, user-oriented
generate/judge, complete) takes the same flags, parsed into a `BackendConfig`, and gets its
backend from `selfinstruct.generation.lm.factory.make_backend(config)`.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from ..redact import redact_url

EMBEDDED_MODEL = "smollm2"
#: Rows a local model decodes together. The decoding loop refills finished rows' slots at once,
#: so more slots keep the model busier; 32 measured fastest of 8/16/32 on the 2-core CPU here
#: (benchmarks/superni_bench.py) and is small for a GPU.
DEFAULT_BATCH_SIZE = 32


@dataclass
class BackendConfig:
    model: str = EMBEDDED_MODEL
    # "auto": a --base-url or an OpenAI-looking model name means the OpenAI-compatible client;
    # a local path, a Hub id or "smollm2" means local transformers.
    backend: str = "auto"  # auto | openai | transformers
    api: str = "auto"  # auto | completions | chat  (OpenAI-compatible only)
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never printed, never written
    concurrency: int = 16
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    timeout: float | None = None  # None: retry.default_timeout(base_url)
    max_retries: int = 6
    batch_size: int = DEFAULT_BATCH_SIZE  # local transformers: rows decoded together
    device: str | None = None  # local transformers: cuda / cpu / mps; None = best available
    dtype: str | None = None
    price_table: str | None = None  # path to a JSON price table overriding the packaged one

    def public_dict(self) -> dict:
        """Settings safe to put in a manifest: the key is reduced to whether one was given."""
        d = {k: v for k, v in self.__dict__.items() if k != "api_key"}
        d["api_key_set"] = bool(self.api_key)
        if d.get("base_url"):
            d["base_url"] = redact_url(d["base_url"])
        return d


def add_model_arguments(parser: argparse.ArgumentParser, *, prefix: str = "", default_model: str | None = EMBEDDED_MODEL) -> None:
    """Add the shared model flags. `prefix` gives a second model its own flags (e.g. "judge-")."""
    p = f"--{prefix}"
    dest = prefix.replace("-", "_")
    group = parser.add_argument_group(f"{prefix or ''}model")
    group.add_argument(f"{p}model", dest=f"{dest}model", default=default_model,
                       help=f"model name, local checkpoint path or Hub id (default: {default_model}, the embedded SmolLM2-135M-Instruct)")
    group.add_argument(f"{p}backend", dest=f"{dest}backend", default="auto", choices=["auto", "openai", "transformers"],
                       help="which backend serves the model (default: auto)")
    group.add_argument(f"{p}api", dest=f"{dest}api", default="auto", choices=["auto", "completions", "chat"],
                       help="OpenAI-compatible endpoint (default auto: chat for message requests, completions for prompts; chat also wraps a prompt as one user message)")
    group.add_argument(f"{p}base-url", dest=f"{dest}base_url", default=None,
                       help="OpenAI-compatible server, e.g. http://localhost:8000/v1 (default: $OPENAI_BASE_URL)")
    group.add_argument(f"{p}api-key", dest=f"{dest}api_key", default=None,
                       help="API key (default: $OPENAI_API_KEY); never logged or written")
    group.add_argument(f"{p}concurrency", dest=f"{dest}concurrency", type=int, default=16,
                       help="concurrent requests to a server (default: 16)")
    group.add_argument(f"{p}rpm", dest=f"{dest}rpm", type=float, default=None, help="requests-per-minute limit")
    group.add_argument(f"{p}tpm", dest=f"{dest}tpm", type=float, default=None, help="tokens-per-minute limit")
    group.add_argument(f"{p}timeout", dest=f"{dest}timeout", type=float, default=None,
                       help="per-request timeout in seconds (default 120; 900 for a server on this machine, "
                            "whose queue keeps the work: a timed-out request is not sent to it again)")
    group.add_argument(f"{p}max-retries", dest=f"{dest}max_retries", type=int, default=6, help="retries per request")
    group.add_argument(f"{p}batch-size", dest=f"{dest}batch_size", type=int, default=DEFAULT_BATCH_SIZE,
                       help=f"rows a local model decodes together (default: {DEFAULT_BATCH_SIZE})")
    group.add_argument(f"{p}device", dest=f"{dest}device", default=None, help="local model device (default: cuda if present, else cpu)")
    group.add_argument(f"{p}price-table", dest=f"{dest}price_table", default=None, help="JSON price table to use for cost")


def config_from_args(args: argparse.Namespace, *, prefix: str = "") -> BackendConfig:
    dest = prefix.replace("-", "_")
    get = lambda name: getattr(args, f"{dest}{name}")  # noqa: E731
    return BackendConfig(
        model=get("model"),
        backend=get("backend"),
        api=get("api"),
        base_url=get("base_url"),
        api_key=get("api_key"),
        concurrency=get("concurrency"),
        requests_per_minute=get("rpm"),
        tokens_per_minute=get("tpm"),
        timeout=get("timeout"),
        max_retries=get("max_retries"),
        batch_size=get("batch_size"),
        device=get("device"),
        price_table=get("price_table"),
    )
