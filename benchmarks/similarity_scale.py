"""Issue 19's part of benchmarks/similarity_bench.py: the exact filter up to a million sentences.

(d) Growth: the incremental filter over million_corpus.py's corpus at each size, each in a child
    process (wall time including interpreter start and reading, peak RSS); the exponent is the
    least-squares slope of log(wall) on log(size) over 100k-1M.
(e) Exactness at the largest size: decisions identical to a brute-force reference (every kept
    sentence scored, no pruning, the project's rouge_score-equal arithmetic) on the first 20,000
    sentences, and on random 2,000-sentence windows deeper in the stream against the whole pool
    the run had kept before each window.
(f) The best exact alternative a user could write, side by side on the 100k prefix: per
    candidate, rapidfuzz `process.cdist` against the whole pool with `score_cutoff` (the
    least LCS any entry needs) on all cores, then the F-measure; timed on a sample of candidates
    and extrapolated by pair count (the output says so).
(g) Bounded top-10 at the largest size: `RougeLIndex.top_k_bounded` for a sample of the kept
    sentences, each against the pool kept before it, checked against a whole-row top-10 on part
    of the sample, and extrapolated to every kept sentence.
"""
from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import million_corpus


def child(corpus: Path, kept_out: Path, threshold: float) -> None:
    """The incremental run measured by (d): everything from interpreter start to the last verdict."""
    t0 = time.perf_counter()
    from selfinstruct.generation.similarity import RougeLIndex

    texts = million_corpus.load_originals(corpus)
    index = RougeLIndex(threshold=threshold)
    kept, marks = bytearray(), {}
    t1 = time.perf_counter()
    for i, text in enumerate(texts, 1):
        kept.append(index.admit(text).kept)
        if i % 100_000 == 0:
            marks[i] = time.perf_counter() - t1  # the filter alone, for (f)'s side-by-side
    wall = time.perf_counter() - t0
    kept_out.write_bytes(bytes(kept))
    print(json.dumps({"wall_in_process": wall, "kept": sum(kept), "n": len(texts), "marks": marks,
                      "peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's own peak RSS: VmHWM belongs to its address space, where ru_maxrss also
    keeps the parent's high-water mark from before exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(bench: Path, size: int, threshold: float, tmp: Path) -> tuple[dict, list[bool]]:
    corpus = million_corpus.corpus_path(size)  # generated (and cached) before the clock starts
    kept_path = tmp / f"kept-{size}.bin"
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(bench), "--threshold", str(threshold), "--_scale_child",
                           str(corpus), str(kept_path)], capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall"] = time.perf_counter() - t
    out["marks"] = {int(k): v for k, v in out["marks"].items()}  # JSON made the keys strings
    return out, [bool(b) for b in kept_path.read_bytes()]


def growth_exponent(points: list[tuple[int, float]]) -> float:
    x = np.log([p[0] for p in points])
    y = np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


class Reference:
    """Brute force: every pool entry scored (rapidfuzz LCS + the project's rouge_score-equal
    F arithmetic), no pruning of any kind."""

    def __init__(self, threshold: float) -> None:
        from selfinstruct.generation.similarity import tokenize

        self.threshold, self.tokenize, self.ids = threshold, tokenize, {}

    def code(self, text: str) -> str:
        ids = self.ids
        return "".join(chr(0x10000 + ids.setdefault(t, len(ids))) for t in self.tokenize(text))

    def max_scores(self, codes: list[str], pool: list[str]) -> np.ndarray:
        from rapidfuzz import process
        from rapidfuzz.distance import LCSseq

        from selfinstruct.generation.similarity.scoring import fmeasure_array

        best = np.full(len(codes), -1.0)
        if not pool:
            return best
        lens = np.array([len(c) for c in pool], dtype=np.int64)
        for lo in range(0, len(codes), 128):
            block = codes[lo:lo + 128]
            lcs = process.cdist(block, pool, scorer=LCSseq.similarity, processor=None, dtype=np.int32, workers=-1)
            for r, code in enumerate(block):
                best[lo + r] = fmeasure_array(lcs[r], lens, len(code)).max() if code else 0.0
        return best

    def judge(self, texts: list[str], pool: list[str]) -> list[bool]:
        """Incremental decisions for `texts` against `pool` (codes) plus those kept among them."""
        codes = [self.code(t) for t in texts]
        against_pool = self.max_scores(codes, pool)
        kept_codes: list[str] = []
        out = []
        for code, best in zip(codes, against_pool):
            within = self.max_scores([code], kept_codes)[0] if kept_codes else -1.0
            keep = max(best, within) <= self.threshold
            out.append(keep)
            if keep:
                kept_codes.append(code)
        return out


def exactness(texts: list[str], kept: list[bool], threshold: float, prefix: int, windows: int,
              window: int, seed: int = 19) -> tuple[bool, str]:
    ref = Reference(threshold)
    t = time.perf_counter()
    same_prefix = ref.judge(texts[:prefix], []) == kept[:prefix]
    rng = random.Random(seed)
    starts = sorted(rng.randrange(prefix, len(texts) - window) for _ in range(windows))
    kept_codes, upto, agree = [], 0, []
    for s in starts:
        kept_codes += [ref.code(x) for x, k in zip(texts[upto:s], kept[upto:s]) if k]
        upto = s
        agree.append(ref.judge(texts[s:s + window], kept_codes) == kept[s:s + window])
    ok = same_prefix and all(agree)
    note = (f"first {prefix:,}: {'identical' if same_prefix else 'DIFFERENT'}; windows of {window:,} at "
            f"{', '.join(f'{s:,}' for s in starts)} against the pool kept before each: "
            f"{sum(agree)}/{len(agree)} identical ({time.perf_counter() - t:.0f} s)")
    return ok, note


def rapidfuzz_baseline(texts: list[str], kept: list[bool], sample: int, threshold: float) -> tuple[float, str]:
    """Estimated wall time of the cdist loop over `texts` (decisions as `kept`)."""
    from rapidfuzz import process
    from rapidfuzz.distance import LCSseq

    from selfinstruct.generation.similarity.postings import min_overlap
    from selfinstruct.generation.similarity.scoring import fmeasure_array

    ref = Reference(threshold)
    codes = [ref.code(x) for x in texts]
    pool_before, size = [], 0
    for k in kept:
        pool_before.append(size)
        size += k
    total_pairs = sum(pool_before)
    step = max(1, len(texts) // sample)
    picks = list(range(step - 1, len(texts), step))
    kept_codes, upto, wall, pairs = [], 0, 0.0, 0
    for i in picks:
        kept_codes += [c for c, k in zip(codes[upto:i], kept[upto:i]) if k]
        upto = i
        code = codes[i]
        if not kept_codes or not code:
            continue
        t = time.perf_counter()
        cutoff = min_overlap(len(code), threshold * (1 - 1e-9))
        lcs = process.cdist([code], kept_codes, scorer=LCSseq.similarity, processor=None, dtype=np.int32,
                            score_cutoff=cutoff, workers=-1)[0]
        lens = np.fromiter(map(len, kept_codes), dtype=np.int64, count=len(kept_codes))
        _ = fmeasure_array(lcs, lens, len(code)).max() > threshold
        wall += time.perf_counter() - t
        pairs += len(kept_codes)
    est = wall / max(pairs, 1) * total_pairs
    return est, (f"EXTRAPOLATED: timed on {len(picks)} of {len(texts):,} candidates ({pairs:,} pairs, {wall:.1f} s), "
                 f"scaled to all {total_pairs:,} pairs")


def bounded_top10(texts: list[str], kept: list[bool], sample: int, checked: int,
                  threshold: float) -> tuple[float, int, str]:
    """Seconds for `top_k_bounded` of every kept sentence against the pool before it: the mean
    over a sample spread over the stream times the kept count, plus the upkeep of its bounds
    (each entry caught up once, timed in full outside the queries, because a sampled query
    would otherwise carry the catch-up of every entry since the last one); mismatches against
    a whole row."""
    from selfinstruct.generation.similarity import RougeLIndex

    kept_texts = [x for x, k in zip(texts, kept) if k]
    step = max(1, len(kept_texts) // sample)
    picks = set(range(step - 1, len(kept_texts), step))
    index = RougeLIndex(threshold=threshold)
    wall, upkeep, done, bad, full_rows, stats = 0.0, 0.0, 0, 0, 0, {}
    for i, text in enumerate(kept_texts):
        if i in picks and len(index):
            t = time.perf_counter()
            index.catch_up_top_k()  # the entries added since the last pick: paid once, not per query
            upkeep += time.perf_counter() - t
            t = time.perf_counter()
            top = index.top_k_bounded(text, 10, stats=stats)
            wall += time.perf_counter() - t
            done += 1
            if done <= checked:
                bad += top != index.top_k(text, 10, order="stable")
        index.add(text)
    full_rows = stats.get("whole_rows", 0)
    est = wall / max(done, 1) * len(kept_texts) + upkeep
    return est, bad, (f"EXTRAPOLATED: timed on {done} of {len(kept_texts):,} kept sentences ({wall:.1f} s, "
                      f"{wall / max(done, 1) * 1e3:.2f} ms each; {full_rows} needed a whole row), scaled to all, "
                      f"plus the bounds' upkeep over the whole stream ({upkeep:.1f} s, measured, not scaled); "
                      f"first {min(checked, done)} checked against a whole-row top-10: {bad} differ")


def gib(mib: float) -> str:
    return f"{mib / 1024:.2f}GiB"


def log_line(label: str, out: dict) -> str:
    return (f"    {label:>9}: {out['wall']:8.1f} s wall ({out['wall_in_process']:.1f} in-process), "
            f"peak RSS {out['peak_rss_mib']:,.0f} MiB, kept {out['kept']:,} of {out['n']:,}")



def main_part(args, bench: Path, targets: list, skip: set) -> None:
    """Parts (d)-(g); appends (name, measured, goal, ok) to `targets`."""
    import tempfile

    sizes = sorted({*(int(x) for x in args.growth_sizes.split(",") if x), args.scale})
    print(f"(d) incremental filter over million_corpus.py's corpus (families of {million_corpus.FAMILY}, "
          f"seed 19), each size in a child process:")
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for size in sizes:
            runs[size], kept = run_child(bench, size, args.threshold, Path(tmp))
            print(log_line(f"{size:,}", runs[size]), flush=True)
    big = runs[args.scale]
    fit = [(n, r["wall"]) for n, r in runs.items() if 100_000 <= n <= args.scale]
    label = "1m" if args.scale == 1_000_000 else f"{args.scale // 1000}k"
    targets.append((f"incremental_{label}_wall", f"{big['wall']:.1f}s", "<=600s", big["wall"] <= 600))
    targets.append((f"incremental_{label}_peak_mem", gib(big["peak_rss_mib"]), "<=4GiB",
                    big["peak_rss_mib"] <= 4096))
    if len(fit) >= 2:
        slope = growth_exponent(fit)
        targets.append((f"growth_exponent_100k_{label}", f"{slope:.2f}", "<=1.3", slope <= 1.3))
    texts = million_corpus.load_originals(million_corpus.corpus_path(args.scale))
    if "e" not in skip:
        ok, note = exactness(texts, kept, args.threshold, min(args.prefix, len(texts)), args.windows, args.window)
        print(f"(e) exact at {args.scale:,}: {note}")
        targets.append((f"exact_decisions_{label}", "identical" if ok else "DIFFERENT", "identical", ok))
    if "f" not in skip and 100_000 in big["marks"]:
        n = 100_000
        ours = big["marks"][n]
        est, note = rapidfuzz_baseline(texts[:n], kept[:n], args.baseline_sample, args.threshold)
        print(f"(f) first {n:,} of the {args.scale:,} stream: RougeLIndex {ours:.1f} s in-process; rapidfuzz "
              f"cdist loop (workers=-1, score_cutoff) {est:.0f} s ({note})")
        targets.append(("vs_rapidfuzz_cdist_100k", f"{est / ours:.1f}x (baseline extrapolated)", ">=20x",
                        est / ours >= 20))
    if "g" not in skip:
        est, bad, note = bounded_top10(texts, kept, args.top10_sample, args.top10_checked, args.threshold)
        print(f"(g) bounded top-10 of every kept sentence against the pool before it at {args.scale:,}: "
              f"{est:.0f} s ({note})")
        targets.append((f"top10_{label}_wall", f"{est:.0f}s (extrapolated){'' if not bad else ' (MISMATCH)'}",
                        "<=900s", est <= 900 and not bad))
