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
    # Batch mode (docs/batch.md): requests go to a Batch API, or to files for `vllm run-batch`.
    batch_api: bool = False
    batch_files_only: bool = False
    import_batch_output: tuple[str, ...] = ()
    batch_failed: str = "resubmit"  # resubmit | live: what happens to items a batch failed
    batch_dir: str | None = None  # where the ledger (batches.jsonl) and request files live
    batch_max_cost: float | None = None  # USD; a batch whose upper-bound estimate exceeds it is refused

    @property
    def batch_mode(self) -> bool:
        return self.batch_api or self.batch_files_only or bool(self.import_batch_output)

    def public_dict(self) -> dict:
        """Settings safe to put in a manifest: the key is reduced to whether one was given."""
        d = {k: v for k, v in self.__dict__.items() if k != "api_key"}
        d["import_batch_output"] = list(self.import_batch_output)
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
    if "--batch-api" not in parser._option_string_actions:  # one batch setting per command, whatever the prefix
        _add_batch_arguments(parser)


def _add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("batch mode (docs/batch.md)")
    group.add_argument("--batch-api", action="store_true",
                       help="send requests through the Batch API (half price; each step, or each step-1 round, "
                            "waits for its batch); a rerun polls the batches already sent and never resubmits")
    group.add_argument("--batch-files-only", action="store_true",
                       help="write the batch request files (OpenAI batch format) for `vllm run-batch` and exit")
    group.add_argument("--import-batch-output", nargs="+", default=(), metavar="FILE",
                       help="result files from `vllm run-batch` or downloaded from OpenAI; the step goes on with them")
    group.add_argument("--batch-failed", choices=["resubmit", "live"], default="resubmit",
                       help="items a batch failed or let expire: resubmitted once in a new batch (default), "
                            "or sent as live requests")
    group.add_argument("--batch-dir", default=None, metavar="DIR",
                       help="where the batch ledger and request files live (default: the --out folder, or "
                            "OUT.batch/ beside an --out file)")
    if "--max-cost" not in parser._option_string_actions:
        group.add_argument("--max-cost", type=float, default=None,
                           help="USD: refuse a batch whose upper-bound cost estimate exceeds this")


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
        **_batch_settings(args),
    )


def _batch_settings(args: argparse.Namespace) -> dict:
    """The batch flags, when the command has them (unprefixed: one batch setting per command)."""
    if not hasattr(args, "batch_api"):
        return {}
    batch_dir = args.batch_dir
    out = getattr(args, "out", None)
    if batch_dir is None and out is not None:
        from .batch_ledger import batch_dir_for

        batch_dir = str(batch_dir_for(out))
    return {"batch_api": args.batch_api, "batch_files_only": args.batch_files_only,
            "import_batch_output": tuple(str(f) for f in args.import_batch_output),
            "batch_failed": args.batch_failed, "batch_dir": batch_dir,
            "batch_max_cost": getattr(args, "max_cost", None)}
