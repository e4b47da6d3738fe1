"""`selfinstruct filter`: the Self-Instruct ROUGE-L near-duplicate filter for any JSONL file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..lock import holding


def _threshold(value: str) -> float:
    try:
        t = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= t <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return t


def default_rejected_path(out: Path) -> Path:
    name = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.name
    return out.with_name(name + ".rejected.jsonl")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "filter",
        help="drop near-duplicate instructions (ROUGE-L), the Self-Instruct way",
        description="Keep each record only if its ROUGE-L F-measure against every --against record and "
        "every record kept before it is below the threshold (scores identical to rouge_score's rougeL, "
        "default tokenizer, no stemming). Kept records go to --out unchanged; rejected ones, with their "
        "nearest match and score, to --rejected.",
    )
    p.add_argument("input", type=Path, metavar="INPUT.jsonl")
    p.add_argument("--out", type=Path, required=True, metavar="OUTPUT.jsonl")
    p.add_argument("--rejected", type=Path, default=None, metavar="PATH",
                   help="where rejected records go (default: OUTPUT with .rejected.jsonl)")
    p.add_argument("--field", default="instruction", help="field holding the text (default: instruction)")
    p.add_argument("--against", type=Path, action="append", default=[], metavar="OTHER.jsonl",
                   help="reference pool, e.g. seed tasks (repeatable); never written out")
    p.add_argument("--against-field", default=None, help="text field in --against files (default: --field)")
    p.add_argument("--threshold", type=_threshold, default=0.7, help="default 0.7")
    p.add_argument("--inclusive", action="store_true",
                   help="reject at score >= threshold (the paper's rule) instead of > threshold (upstream code)")
    p.add_argument("--metadata", choices=("none", "top10", "full"), default="none",
                   help="add upstream's similarity fields to each kept record, against the pool before it: "
                   "full = most_similar + exact avg_similarity_score (quadratic); top10 = most_similar by "
                   "bounded search, the mean exact up to --exact-mean-max entries, beyond that "
                   "avg_similarity_score_estimate + avg_similarity_sample_size; none (default): records unchanged")
    p.add_argument("--exact-mean-max", type=int, default=50_000, metavar="N",
                   help="top10: largest pool whose mean is computed exactly (default 50000)")
    p.add_argument("--mean-sample", type=int, default=10_000, metavar="N",
                   help="top10: pool entries sampled for the estimated mean beyond it (default 10000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=holding(run_filter))


def run_filter(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..exact_dups import rejection_record as exact_rejection, rouge_blind_warning, split_exact_duplicates
    from ..jsonl import atomic_writer, dumps
    from .dedup import MetadataPolicy, deduplicate, read_records, rejection_record

    rejected_path = args.rejected or default_rejected_path(args.out)
    against_field = args.against_field or args.field
    # Read and validate everything before opening any output: bad input leaves no trace.
    against = [r for path in args.against for r in read_records(path, against_field)]
    records = list(read_records(args.input, args.field))
    unique, copies = split_exact_duplicates(records, against, text=lambda r: r.text)
    if warning := rouge_blind_warning(r.text for r in records):
        print(warning, file=sys.stderr)
    kept = rejected = 0
    bar = tqdm(total=len(records), desc="filter", unit="rec", file=sys.stderr, disable=args.no_progress)
    with atomic_writer(args.out) as out, atomic_writer(rejected_path) as rej:
        rej.write("".join(dumps(exact_rejection(copy, original)) + "\n" for copy, original in copies))
        bar.update(len(copies))
        policy = MetadataPolicy(args.metadata, args.exact_mean_max, args.mean_sample)
        for verdict in deduplicate(unique, against, threshold=args.threshold, inclusive=args.inclusive,
                                   metadata=policy):
            if verdict.kept:
                out.write(dumps({**verdict.record.data, **(verdict.fields or {})}) + "\n")
                kept += 1
            else:
                rej.write(dumps(rejection_record(verdict)) + "\n")
                rejected += 1
            bar.update()
    bar.close()
    rule = ">=" if args.inclusive else ">"
    print(f"kept {kept} of {len(records)} (rejected {rejected} at ROUGE-L {rule} {args.threshold}, "
          f"{len(copies)} exact duplicates); "
          f"kept -> {args.out}, rejected -> {rejected_path}", file=sys.stderr)
    return 0
