"""`selfinstruct complete`: send prompts to any backend and print what comes back.

The quickest way to check that a model, a server URL or a key works before starting a long
generation run, and what `make demo` runs (`--demo`: a few built-in prompts of the kinds the
pipeline sends). It prints the model's answers, finish reasons, token usage and cost; the key
is never printed, and a URL's user:password part is masked.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..errors import InputError
from .config import add_model_arguments, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "complete",
        help="send prompts to a model (local or OpenAI-compatible) and print the completions",
        description="Send prompts to the chosen model and print the completions, finish reasons, "
        "token usage and cost. With no model flags it uses the embedded SmolLM2-135M-Instruct.",
    )
    p.add_argument("prompts", nargs="*", metavar="PROMPT", help="prompts to complete")
    p.add_argument("--file", type=Path, help="a text file with one prompt per line")
    p.add_argument("--demo", action="store_true", help="run the built-in demo prompts")
    p.add_argument("--chat", action="store_true", help="send each prompt as one user chat message")
    p.add_argument("--max-tokens", type=int, default=64, help="tokens to generate per prompt (default: 64)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default: 0)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable); \\n is a newline")
    p.add_argument("-n", type=int, default=1, help="completions per prompt")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object per prompt instead of text")
    p.add_argument("--out", type=Path, help="also write the results, usage and settings to this JSON file")
    add_model_arguments(p)
    p.set_defaults(func=run_complete)


def redact_url(url: str | None) -> str | None:
    """Mask credentials embedded in a URL (https://user:secret@host -> https://***@host)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
    return url


def demo_requests() -> list[dict]:
    text = resources.files(__package__).joinpath("demo_prompts.json").read_text(encoding="utf-8")
    return json.loads(text)["requests"]


def _validate(args: argparse.Namespace) -> None:
    if args.max_tokens < 1:
        raise InputError("must be at least 1", field="--max-tokens")
    if args.n < 1:
        raise InputError("must be at least 1", field="-n")
    if args.temperature < 0:
        raise InputError("must be >= 0", field="--temperature")
    if not 0 < args.top_p <= 1:
        raise InputError("must be in (0, 1]", field="--top-p")


def read_prompt_file(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError("file not found", file=path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", file=path) from None
    return [line for line in lines if line.strip()]


def build_requests(args: argparse.Namespace) -> tuple[list[str], list]:
    """(labels, LMRequests) from the positional prompts, --file and --demo, in that order."""
    from .base import LMRequest, SamplingParams

    stop = tuple(s.replace("\\n", "\n") for s in args.stop)
    params = SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
                            stop=stop, n=args.n, seed=args.seed)
    texts = list(args.prompts)
    if args.file is not None:
        texts += read_prompt_file(args.file)
    labels, requests = [], []
    for text in texts:
        labels.append(text)
        if args.chat:
            requests.append(LMRequest(messages=({"role": "user", "content": text},), params=params))
        else:
            requests.append(LMRequest(prompt=text, params=params))
    if args.demo:
        for item in demo_requests():
            demo_params = SamplingParams(max_tokens=item.get("max_tokens", args.max_tokens), temperature=args.temperature,
                                         top_p=args.top_p, stop=tuple(item.get("stop", ())) or stop, n=args.n,
                                         seed=args.seed)
            labels.append(item["label"])
            if "messages" in item:
                requests.append(LMRequest(messages=tuple(item["messages"]), params=demo_params))
            else:
                requests.append(LMRequest(prompt=item["prompt"], params=demo_params))
    if not requests:
        raise InputError("no prompts: give PROMPT arguments, --file FILE or --demo", field="prompts")
    return labels, requests


def run_complete(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .factory import make_backend, resolve_backend_kind

    _validate(args)
    config = config_from_args(args)
    labels, requests = build_requests(args)
    kind = resolve_backend_kind(config)
    where = redact_url(config.base_url) if kind == "openai" else None
    t0 = time.perf_counter()
    lm = make_backend(config)
    load_s = time.perf_counter() - t0
    print(f"model {lm.name} via {kind}" + (f" at {where}" if where else "") + f" (ready in {load_s:.1f}s)",
          file=sys.stderr)
    t1 = time.perf_counter()
    try:
        with tqdm(total=len(requests), desc="complete", unit="prompt", file=sys.stderr, disable=None) as bar:
            results = lm.generate(requests, progress=bar.update)
    finally:
        lm.close()
    gen_s = time.perf_counter() - t1
    records = []
    for i, (label, req, res) in enumerate(zip(labels, requests, results)):
        record = {"index": i, "label": label, "prompt": req.prompt if req.prompt is not None else list(req.messages),
                  "choices": [{"text": c.text, "finish_reason": c.finish_reason} for c in res.choices],
                  "usage": {"prompt_tokens": res.usage.prompt_tokens, "completion_tokens": res.usage.completion_tokens},
                  "error": res.error, "attempts": res.attempts}
        records.append(record)
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            _print_text(record)
    usage = lm.usage
    cost = lm.cost_usd
    failed = sum(1 for r in results if not r.ok)
    summary = (f"{len(results)} prompts, {failed} failed | tokens: prompt {usage.prompt_tokens}, "
               f"completion {usage.completion_tokens} | cost ${cost:.6f} | {gen_s:.1f}s"
               f" ({usage.completion_tokens / gen_s if gen_s > 0 else 0:.1f} tokens/s)")
    print(summary if not args.json else json.dumps({"summary": summary}))
    if args.out is not None:
        from ..jsonl import write_json

        public = config.public_dict()
        public["base_url"] = redact_url(public.get("base_url"))
        write_json(args.out, {"model": lm.name, "backend": kind, "settings": public, "results": records,
                              "usage": {"prompt_tokens": usage.prompt_tokens,
                                        "completion_tokens": usage.completion_tokens},
                              "cost_usd": cost, "seconds": round(gen_s, 3)})
    return 1 if failed == len(results) else 0


def _print_text(record: dict) -> None:
    print(f"--- [{record['index']}] {_one_line(record['label'])}")
    if record["error"]:
        print(f"    error after {record['attempts']} attempt(s): {record['error']}")
        return
    for k, c in enumerate(record["choices"]):
        head = f"(choice {k}, {c['finish_reason']})" if len(record["choices"]) > 1 else f"({c['finish_reason']})"
        print(f"{head} {c['text'].strip()}")


def _one_line(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."
