"""Backend throughput, each measured against its own baseline in this one process.

(a) The OpenAI-compatible client against the local server at 250 ms simulated latency:
    64 requests in flight vs one request at a time (requests/s ratio; goal >= 40x).
(b) The embedded SmolLM2-135M-Instruct on this machine's CPU: batches of 8 vs one prompt at a
    time on the same prompts, greedy, fixed max_tokens (generated tokens/s ratio; goal >= 3x).

Run: python benchmarks/lm_throughput.py [--quick] [--threads N]   (load average is printed: the
CPU figures of (b) depend on what else the machine is doing)
Exit status is 0 whether the targets pass or miss; the last lines say which.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from selfinstruct.generation.lm.base import LMRequest, SamplingParams
from selfinstruct.generation.lm.openai_backend import OpenAICompatibleBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test doubles
from doubles.localserver import LocalServer  # noqa: E402

PROMPTS = [
    "Give three tips for staying healthy.",
    "Write a short poem about the sea.",
    "Explain what a neural network is to a child.",
    "List five fruits that are red.",
    "Translate 'good morning' into French and explain the words.",
    "Describe the water cycle.",
    "What is the capital of Japan, and what is it known for?",
    "Write a haiku about autumn leaves falling in the park.",
    "Summarize the plot of Romeo and Juliet in two sentences.",
    "How do I make a cup of tea?",
    "Name three planets and one fact about each.",
    "Why is the sky blue?",
    "Suggest a name for a bakery.",
    "Write an email asking a colleague for the meeting notes from Tuesday.",
    "Explain the difference between weather and climate.",
    "Give an example of a classification task.",
]


def bench_openai(n_concurrent: int, n_sequential: int, latency: float = 0.25) -> float:
    with LocalServer(latency=latency) as srv:
        def run(concurrency: int, n: int) -> float:
            with OpenAICompatibleBackend(srv.model_name, base_url=srv.base_url, api_key="sk-bench",
                                         concurrency=concurrency, max_retries=0) as lm:
                lm.generate([LMRequest(prompt="warm up")])  # loop, imports, first connection
                reqs = [LMRequest(prompt=f"request {i}", params=SamplingParams(max_tokens=16)) for i in range(n)]
                t0 = time.perf_counter()
                results = lm.generate(reqs)
                elapsed = time.perf_counter() - t0
            assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
            return n / elapsed

        seq = run(1, n_sequential)
        par = run(64, n_concurrent)
        peak = srv.max_in_flight
    ratio = par / seq
    print(f"(a) openai client, local server latency {latency * 1000:.0f} ms: "
          f"sequential {seq:.2f} req/s ({n_sequential} requests) | concurrency 64 {par:.1f} req/s "
          f"({n_concurrent} requests, peak in flight {peak}) | speedup {ratio:.1f}x")
    return ratio


def bench_embedded(max_tokens: int, n_prompts: int, batch_size: int = 8, rounds: int = 2) -> float:
    import torch

    from selfinstruct.generation.lm.embedded import load_embedded

    t0 = time.perf_counter()
    lm = load_embedded(batch_size=batch_size)
    print(f"    embedded model ready in {time.perf_counter() - t0:.1f}s; torch threads {torch.get_num_threads()}")
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0)
    reqs = [LMRequest(messages=({"role": "user", "content": p},), params=params) for p in PROMPTS[:n_prompts]]
    lm.generate(reqs[:2])  # warm-up: first-call allocations

    # Interleaved rounds: on a shared machine the load drifts, and alternating the two ways of
    # running gives both the same conditions; each side's rate is its total tokens / total time.
    totals = {1: [0.0, 0], batch_size: [0.0, 0]}
    for _ in range(rounds):
        for batch in (1, batch_size):
            lm.batch_size = batch
            t = time.perf_counter()
            results = [lm.generate([r])[0] for r in reqs] if batch == 1 else lm.generate(reqs)
            totals[batch][0] += time.perf_counter() - t
            totals[batch][1] += sum(r.usage.completion_tokens for r in results)
    (t_one, tok_one), (t_b, tok_batched) = totals[1], totals[batch_size]
    one, batched = tok_one / t_one, tok_batched / t_b
    ratio = batched / one
    print(f"(b) embedded smollm2 on {platform.processor() or platform.machine()} ({os.cpu_count()} cpus): "
          f"one at a time {one:.1f} tok/s ({tok_one} tokens) | batches of {batch_size} {batched:.1f} tok/s "
          f"({tok_batched} tokens) | speedup {ratio:.2f}x  [{n_prompts} prompts x {rounds} interleaved rounds, "
          f"greedy, max_tokens {max_tokens}]")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not for the figures)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for both sides of (b) (default: 1; 0 = torch's default). "
                        "One thread isolates the effect of batching and avoids OpenMP spin-waiting, which "
                        "makes multi-threaded CPU inference many times slower on a shared machine")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cpus, load average {load:.1f} at start")
    n_conc, n_seq = (128, 8) if args.quick else (512, 24)
    a = bench_openai(n_conc, n_seq)
    # 64 new tokens: Self-Instruct generations are long, so decoding (which batching speeds up)
    # rather than prompt prefill (already compute-bound, so batching cannot) dominates real runs.
    b = bench_embedded(max_tokens=16 if args.quick else 64, n_prompts=8, rounds=1 if args.quick else 2)
    print(f"target openai_concurrency_speedup: {a:.1f}x vs >=40x {'PASS' if a >= 40 else 'MISS'}")
    print(f"target embedded_batch_speedup: {b:.2f}x vs >=3x {'PASS' if b >= 3 else 'MISS'}")


if __name__ == "__main__":
    main()
