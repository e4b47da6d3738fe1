"""Issue 5 benchmark: the exact ROUGE-L index against the plain rouge_score loop it replaces.

    python benchmarks/similarity_bench.py [--corpus PATH] [--small 2000] [--baseline-limit N]

(a) First `--small` sentences, incremental filter at 0.7 (upstream's rule: reject when > 0.7),
    the rouge_score loop upstream runs (score against the whole pool, then max) vs the index,
    side by side: kept sets must be identical; speed-up target >= 1000x.
(b) All sentences incremental, in a child process so its wall time (interpreter start, imports,
    reading and tokenizing included) and peak RSS are its own: <= 15 s, <= 1 GiB.
(c) Upstream metadata (top-10 `most_similar` and `avg_similarity_score`) for every instruction the
    50k incremental filter keeps, each against those kept before it, as upstream records it;
    spot-checked against rouge_score + upstream's expressions (numpy < 1.25's tie order, as
    tests/similarity/test_argsort_legacy.py checks it): <= 120 s. `--all-kept`
    treats every sentence as kept instead (the worst case for a 50k pool).
(d)-(g) Issue 19, the same filter at a million sentences (benchmarks/similarity_scale.py): growth
    from 50k to `--scale`, exactness against brute force, the rapidfuzz cdist loop side by side,
    bounded top-10. `--skip-1m` leaves them out; `--scale 200000` sizes them down.
Ends with one `target` line per goal (exit 0 either way).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
from million_corpus import load_originals as load  # noqa: E402  (benchmarks/ is sys.path[0])

DEFAULT_CORPUS = REPO.parent / "shared" / "bench" / "instruction_corpus_50k.jsonl"


def rouge_score_filter(texts: list[str], threshold: float, limit: int | None = None):
    """Upstream's loop: every candidate against the whole pool with rouge_score, reject if max > t.

    With `limit`, only the first `limit` candidates are judged (for extrapolation)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pool: list[str] = []
    kept = []
    pairs = 0
    for text in texts[:limit]:
        scores = [scorer.score(p, text)["rougeL"].fmeasure for p in pool]
        pairs += len(scores)
        if not scores or max(scores) <= threshold:
            pool.append(text)
            kept.append(True)
        else:
            kept.append(False)
    return kept, pairs


def pairs_for(kept: list[bool]) -> int:
    """Pairs the loop scores when it judges each candidate against everything kept before it."""
    pool = total = 0
    for k in kept:
        total += pool
        pool += k
    return total


def child_incremental(corpus: Path, threshold: float, kept_out: Path) -> None:
    t0 = time.perf_counter()
    from selfinstruct.generation.similarity import RougeLIndex

    texts = load(corpus)
    index = RougeLIndex(threshold=threshold)
    kept = [index.admit(t).kept for t in texts]
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kept_out.write_text(json.dumps(kept))
    print(json.dumps({"wall_in_process": wall, "peak_rss_mib": peak_kib / 1024, "kept": sum(kept),
                      "n": len(texts)}))


def cpu_seconds() -> float:
    """CPU time of this process and its finished children: with the wall time it shows how much
    of the machine the measurement actually got (other jobs share these cores)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--small", type=int, default=2000, help="sentences in part (a)")
    ap.add_argument("--baseline-limit", type=int, default=None,
                    help="time the rouge_score loop on only the first N candidates of (a) and "
                         "extrapolate by pair count (said so in the output); default: run it fully")
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--workers", type=int, default=None, help="processes for (c) (default: all cores)")
    ap.add_argument("--all-kept", action="store_true",
                    help="(c) over all sentences as if every one were kept (1.25e9 pairs at 50k), "
                         "instead of the ones the incremental filter keeps")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: a,b,c,d,e,f,g")
    ap.add_argument("--scale", type=int, default=1_000_000, help="largest corpus of (d)-(g)")
    ap.add_argument("--skip-1m", action="store_true", help="skip (d)-(g)")
    ap.add_argument("--growth-sizes", default="50000,100000,250000,500000",
                    help="corpus sizes of (d) besides --scale")
    ap.add_argument("--prefix", type=int, default=20_000, help="(e): sentences checked from the start")
    ap.add_argument("--windows", type=int, default=2, help="(e): random windows checked deeper in")
    ap.add_argument("--window", type=int, default=2000)
    ap.add_argument("--baseline-sample", type=int, default=1000, help="(f): candidates timed")
    ap.add_argument("--top10-sample", type=int, default=2000, help="(g): kept sentences timed")
    ap.add_argument("--top10-checked", type=int, default=200, help="(g): of those, checked on a whole row")
    ap.add_argument("--_child", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_scale_child", type=Path, nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child is not None:
        child_incremental(args.corpus, args.threshold, args._child)
        return 0
    if args._scale_child is not None:
        import similarity_scale

        similarity_scale.child(*args._scale_child, args.threshold)
        return 0
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus} (pass --corpus)", file=sys.stderr)
        return 2

    import numpy as np

    from selfinstruct.generation.similarity import RougeLIndex

    skip = set(filter(None, args.skip.split(",")))
    print(f"corpus: {args.corpus}  cpus: {os.cpu_count()}  load average: {os.getloadavg()[0]:.2f}")
    targets = []

    # (a) ------------------------------------------------------------------------------------------
    if "a" not in skip:
        small = load(args.corpus, args.small)
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            index = RougeLIndex(threshold=args.threshold)
            fast_kept = [index.admit(s).kept for s in small]
            runs.append(time.perf_counter() - t)
        t_index = statistics.median(runs)
        t, c = time.perf_counter(), cpu_seconds()
        base_kept, base_pairs = rouge_score_filter(small, args.threshold, args.baseline_limit)
        t_base, c_base = time.perf_counter() - t, cpu_seconds() - c
        judged = len(base_kept)
        same = base_kept == fast_kept[:judged]
        if judged < len(small):
            total_pairs = pairs_for(fast_kept)  # identical decisions so far: the index's pool sizes
            t_base_est = t_base / max(base_pairs, 1) * total_pairs
            note = (f"EXTRAPOLATED: rouge_score timed on the first {judged} candidates ({base_pairs:,} pairs, "
                    f"{t_base:.1f} s) and scaled to all {total_pairs:,} pairs")
        else:
            t_base_est, note = t_base, f"rouge_score loop run fully ({base_pairs:,} pairs)"
        speedup = t_base_est / t_index
        print(f"(a) first {len(small)} sentences, incremental at > {args.threshold}:")
        print(f"    rouge_score loop: {t_base_est:9.2f} s  ({note}; {1e6 * t_base / max(base_pairs, 1):.1f} us/pair "
              f"wall, {1e6 * c_base / max(base_pairs, 1):.1f} us/pair CPU)")
        print(f"    RougeLIndex:      {t_index:9.4f} s  (median of 3 fresh runs: "
              f"{', '.join(f'{r:.4f}' for r in runs)})")
        print(f"    kept: {sum(fast_kept)} of {len(small)}; identical decisions on the {judged} judged by both: {same}")
        targets.append(("rouge_speedup_2k", f"{speedup:,.0f}x{'' if same else ' (KEPT SETS DIFFER)'}", ">=1000x",
                        same and speedup >= 1000))

    # (b) ------------------------------------------------------------------------------------------
    kept_all = None
    if "b" not in skip:
        with tempfile.TemporaryDirectory() as tmp:
            kept_path = Path(tmp) / "kept.json"
            t, c = time.perf_counter(), cpu_seconds()
            proc = subprocess.run([sys.executable, __file__, "--corpus", str(args.corpus), "--threshold",
                                   str(args.threshold), "--_child", str(kept_path)],
                                  capture_output=True, text=True, check=True)
            wall, cpu = time.perf_counter() - t, cpu_seconds() - c
            child = json.loads(proc.stdout.strip().splitlines()[-1])
            kept_all = json.loads(kept_path.read_text())
        print(f"(b) all {child['n']} sentences, incremental, child process: {wall:.2f} s wall including "
              f"interpreter start ({child['wall_in_process']:.2f} s in-process, {cpu:.2f} CPU-s), peak RSS "
              f"{child['peak_rss_mib']:.0f} MiB, kept {child['kept']}")
        targets.append(("incremental_50k_wall", f"{wall:.2f}s", "<=15s", wall <= 15))
        targets.append(("incremental_50k_peak_mem", f"{child['peak_rss_mib']:.0f}MiB", "<=1024MiB",
                        child["peak_rss_mib"] <= 1024))

    # (c) ------------------------------------------------------------------------------------------
    if "c" not in skip:
        corpus = load(args.corpus)
        if args.all_kept:
            texts, what = corpus, f"all {len(corpus)} sentences treated as kept (worst case)"
        else:
            if kept_all is None:  # (b) skipped: decide here
                index = RougeLIndex(threshold=args.threshold)
                kept_all = [index.admit(s).kept for s in corpus]
            texts = [s for s, k in zip(corpus, kept_all) if k]
            what = f"the {len(texts)} instructions the 50k incremental filter kept"
        t, c = time.perf_counter(), time.process_time()
        index = RougeLIndex(texts)
        build_cpu = time.process_time() - c
        stats: dict = {}
        metadata = index.member_metadata(range(len(texts)), workers=args.workers, progress=True, stats=stats)
        wall = time.perf_counter() - t
        print(f"(c) upstream metadata for {what}, each against every one kept before it "
              f"({stats['pairs']:,} pairs): {wall:.2f} s wall, {build_cpu + stats['cpu_seconds']:.1f} CPU-s "
              f"over {stats['workers']} worker process(es) (load average now {os.getloadavg()[0]:.2f})")
        from rouge_score import rouge_scorer

        from selfinstruct.generation.similarity.argsort_legacy import legacy_argsort_tail

        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        checks = [i for i in (1, 10, 500, 1999, 5000, len(texts) - 1) if i < len(texts)]
        agree = 0
        for i in checks:
            scores = [scorer.score(p, texts[i])["rougeL"].fmeasure for p in texts[:i]]
            most_similar = {texts[j]: scores[j] for j in legacy_argsort_tail(np.array(scores), 10)[::-1]}
            md = metadata[i]
            agree += (list(md.most_similar.items()) == list(most_similar.items())
                      and md.avg_similarity_score == float(np.mean(scores)))
        print(f"    spot-checked vs rouge_score + upstream's argsort/mean at positions {checks}: "
              f"{agree}/{len(checks)} identical")
        ok = agree == len(checks)
        targets.append(("metadata_50k_wall" + ("_all_kept" if args.all_kept else ""),
                        f"{wall:.2f}s{'' if ok else ' (MISMATCH)'}", "<=120s", ok and wall <= 120))

    if not args.skip_1m and not skip >= {"d"}:
        import similarity_scale

        similarity_scale.main_part(args, Path(__file__), targets, skip)

    for name, measured, goal, ok in targets:
        print(f"target {name}: {measured} vs {goal} {verdict(ok)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
