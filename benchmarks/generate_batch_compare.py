"""Our decoding loop (generation/lm/decode.py) against transformers' own continuous batching
(`model.generate_batch`), on the same loaded model and the same prompts.

Why this exists: decode.py is code we maintain instead of a library feature. transformers 5
ships continuous batching, so our loop keeps its place only while it is clearly faster on the
workload it serves (issue 15: keep ours only at >= 1.5x). superni_bench.py calls
`time_generate_batch` inside its runner rounds; run this file alone to measure just this pair:

    .venv/bin/python benchmarks/generate_batch_compare.py [--rounds N] [--threads 1]

How `generate_batch` is called, and why:
- greedy (`do_sample=False`), `max_new_tokens` as the runner's, EOS = the backend's EOS ids;
  the output keeps a final EOS like ours, so completion tokens count the same way;
- `ContinuousBatchingConfig(num_blocks=...)` sized to the workload (every prompt plus its new
  tokens, in `page_size` pages): left unset, the library sizes its paged KV cache from free
  memory, which on a CPU means 90% of the machine's RAM;
- `auto_switch_to_flash=False`: there is no flash attention on a CPU; the model keeps its
  "sdpa" attention, which the manager accepts and restores when it stops, so the same model
  object serves both loops and no second copy is loaded;
- everything else (page size, max batch tokens, prefix block sharing, scheduler) is the
  library's default. It takes token ids, so the timed part is encode + generate_batch + decode,
  the same work the runner's timing covers besides writing the prediction log.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

KEEP_OURS_AT = 1.5


def cb_config(lengths: Sequence[int], max_new_tokens: int) -> Any:
    from transformers.generation.configuration_utils import ContinuousBatchingConfig

    page = ContinuousBatchingConfig.page_size
    blocks = sum(math.ceil((n + max_new_tokens) / page) for n in lengths) + 1
    return ContinuousBatchingConfig(num_blocks=blocks, auto_switch_to_flash=False)


def time_generate_batch(backend: Any, texts: Sequence[str], max_new_tokens: int) -> tuple[float, int, list[str], str]:
    """(seconds, completion tokens, predictions in `texts` order, attention used) for one
    `generate_batch` call over all prompts; raises whatever the library raises."""
    import torch
    from selfinstruct.generation.lm.base import LMRequest, SamplingParams
    from transformers import GenerationConfig

    params = SamplingParams(max_tokens=max_new_tokens, temperature=0.0, top_p=1.0)
    tok, model, eos = backend.tokenizer, backend.model, backend.eos_ids
    t0 = time.perf_counter()
    ids = [backend.encode(LMRequest(prompt=t, params=params)) for t in texts]
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=sorted(eos),
                              pad_token_id=tok.pad_token_id)
    with torch.inference_mode():
        out = model.generate_batch(ids, generation_config=config,
                                   continuous_batching_config=cb_config([len(x) for x in ids], max_new_tokens),
                                   progress_bar=False)
    results = list(out.values())  # generate_batch returns them in input order
    failed = [r.error for r in results if r.error is not None]
    if len(results) != len(ids) or failed:
        raise RuntimeError(f"generate_batch returned {len(results)}/{len(ids)} results, errors: {failed[:3]}")
    texts_out = [tok.decode([t for t in r.generated_tokens if t not in eos], skip_special_tokens=True)
                 for r in results]
    seconds = time.perf_counter() - t0
    return seconds, sum(len(r.generated_tokens) for r in results), texts_out, model.config._attn_implementation


def not_measured(reason: str) -> str:
    return f"target decode_vs_generate_batch: not measured ({reason}) vs keep-ours-if>={KEEP_OURS_AT}x MISS"


def report(ours: tuple[float, int], theirs: tuple[float, int] | None, same: int | None, n: int,
           reason: str | None = None) -> str:
    """Print the comparison and return the target line (`reason`: why theirs was not measured)."""
    o_tps = ours[1] / ours[0]
    print(f"decode.py (runner, batched) {ours[1]} completion tokens in {ours[0]:.1f}s = {o_tps:.1f} tokens/s")
    if theirs is None:
        return not_measured(reason or "no result")
    t_tps = theirs[1] / theirs[0]
    ratio = o_tps / t_tps
    print(f"generate_batch {theirs[1]} completion tokens in {theirs[0]:.1f}s = {t_tps:.1f} tokens/s")
    print(f"identical predictions decode.py vs generate_batch: {same}/{n}; "
          f"ours/theirs tokens/s {ratio:.2f}x, wall {theirs[0] / ours[0]:.2f}x")
    return (f"target decode_vs_generate_batch: {ratio:.2f}x vs keep-ours-if>={KEEP_OURS_AT}x "
            f"{'PASS' if ratio >= KEEP_OURS_AT else 'MISS'}")


def main() -> int:
    import argparse
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import superni_bench as sb
    from selfinstruct.evaluation.superni.data import load_tasks
    from selfinstruct.evaluation.superni.files import PredictionLog
    from selfinstruct.evaluation.superni.prompts import build_prompts
    from selfinstruct.evaluation.superni.runner import generate_predictions
    from selfinstruct.generation.jsonl import read_jsonl
    from selfinstruct.generation.lm.config import BackendConfig
    from selfinstruct.generation.lm.factory import make_backend

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds (best of each)")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--per-task", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = build_prompts(load_tasks(sb.SUPERNI, sb.TASKS, max_instances=args.per_task), "self-instruct")
    backend = make_backend(BackendConfig())
    print(f"{len(prompts)} prompts, max {args.max_new_tokens} new tokens, greedy, {backend!r}, "
          f"torch threads {torch.get_num_threads()}")
    best_ours, best_theirs, ours_text, theirs_text = (float("inf"), 0), (float("inf"), 0), {}, []
    reason = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ours.jsonl"
        with PredictionLog(Path(tmp) / "warm.jsonl") as log:  # warm-up: first-call overheads
            generate_predictions(backend, prompts[:8], log, max_new_tokens=4, progress=False)
        for _ in range(args.rounds):
            path.unlink(missing_ok=True)
            with PredictionLog(path) as log:
                stats = generate_predictions(backend, prompts, log, max_new_tokens=args.max_new_tokens, progress=False)
            ours_text = {r["id"]: r["prediction"] for r in read_jsonl(path)}
            print(f"  decode.py: {stats.seconds:.1f}s, {stats.completion_tokens} tokens")
            best_ours = min(best_ours, (stats.seconds, stats.completion_tokens))
            if reason is None:
                try:
                    s, n, theirs_text, attn = time_generate_batch(backend, [p.text for p in prompts], args.max_new_tokens)
                    print(f"  generate_batch ({attn}): {s:.1f}s, {n} tokens")
                    best_theirs = min(best_theirs, (s, n))
                except Exception as e:  # noqa: BLE001 (why it cannot run is the result)
                    reason = f"{type(e).__name__}: {e}"
    same = sum(ours_text[p.id] == t for p, t in zip(prompts, theirs_text)) if theirs_text else None
    print(report(best_ours, None if reason else best_theirs, same, len(prompts), reason))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
