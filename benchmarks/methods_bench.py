"""The family methods' throughput: `--method unnatural` and `--method evol` against a sequential
loop over the same prompts, at the same server latency.

Each method runs once through its runner (stages sent `--concurrency` requests at a time)
against a local OpenAI-compatible server in a separate process, answering with the scripted
family responder. The baseline sends the very prompts that run logged, one request at a time
with the OpenAI SDK, as a plain loop would; it times `--baseline-requests` of them and
extrapolates to the run's request count (printed, so the reader can see the sample). The ratio
is instructions per second: the run's kept rows over each side's time.

    python benchmarks/methods_bench.py [--latency 0.25] [--concurrency 384]

Ends with one `target` line per method (exit 0 either way); benchmarks/pipeline_bench.py prints
the same lines after its own.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test doubles: scripted server, family responder
TARGET = 20.0
RUNS = {"unnatural": ["--num-examples", "600"], "evol": ["--epochs", "4"]}


def _serve(latency: float, conn) -> None:
    from doubles.family import respond
    from doubles.localserver import LocalServer

    with LocalServer(respond, latency=latency) as srv:
        conn.send(srv.base_url)
        conn.recv()


def method_run(method: str, base_url: str, out: Path, concurrency: int) -> tuple[int, float, list[dict]]:
    from selfinstruct.generation.cli import main

    argv = ["generate", "--method", method, "--out", str(out), "--model", "m", "--api", "completions",
            "--base-url", base_url, "--api-key", "k", "--no-progress", "--concurrency", str(concurrency), *RUNS[method]]
    t0 = time.perf_counter()
    assert main(argv) == 0
    secs = time.perf_counter() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    records = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines() if line.strip()]
    return manifest["counts"]["instances"], secs, records


def sequential_seconds_per_request(base_url: str, records: list[dict], n: int) -> float:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)
    sample = records[:n]
    t0 = time.perf_counter()
    for rec in sample:
        p = rec["params"]
        client.completions.create(model="m", prompt=rec["prompt"], max_tokens=p["max_tokens"],
                                  temperature=p["temperature"], top_p=p["top_p"], stop=p["stop"] or None)
    return (time.perf_counter() - t0) / len(sample)


def measure(latency: float, concurrency: int, baseline_requests: int) -> list[str]:
    parent, child = mp.Pipe()
    server = mp.Process(target=_serve, args=(latency, child), daemon=True)
    server.start()
    base_url = parent.recv()
    lines, targets = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for method in RUNS:
                kept, secs, records = method_run(method, base_url, Path(tmp) / method, concurrency)
                per = sequential_seconds_per_request(base_url, records, baseline_requests)
                base_secs = per * len(records)
                ratio = (kept / secs) / (kept / base_secs)
                lines.append(f"{method}: {kept} instructions from {len(records)} requests in {secs:.2f}s = "
                             f"{kept / secs:.1f}/s; sequential loop over the same prompts: {per * 1000:.0f} ms per "
                             f"request (timed on {min(baseline_requests, len(records))}, extrapolated to "
                             f"{len(records)}) = {base_secs:.1f}s = {kept / base_secs:.2f}/s; {ratio:.1f}x")
                targets.append(f"target {method}_speedup: {ratio:.1f}x vs >={TARGET:.0f}x "
                               f"{'PASS' if ratio >= TARGET else 'MISS'}")
    finally:
        parent.send("stop")
        server.join(timeout=5)
    return lines + targets


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latency", type=float, default=0.25)
    ap.add_argument("--concurrency", type=int, default=384)
    ap.add_argument("--baseline-requests", type=int, default=24)
    args = ap.parse_args(argv)
    for line in measure(args.latency, args.concurrency, args.baseline_requests):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
