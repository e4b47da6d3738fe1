"""`selfinstruct generate --method unnatural|evol` and the replay of such a run: settings from the
flags (or the run's manifest), the method's inputs, and one line per outcome."""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from ...errors import RunStopped
from ...lm.config import BackendConfig, config_from_args
from ...lock import DirectoryLock
from ...rundir import file_sha256
from ..settings import check_ranges
from .runner import MethodRunner
from .settings import MethodSettings

PACKAGED_EXAMPLES = "unnatural_seed_examples.jsonl"


def add_method_arguments(g: argparse.ArgumentParser) -> None:
    m = g.add_argument_group("other methods (--method unnatural | evol)")
    m.add_argument("--num-examples", type=int, default=20, metavar="N",
                   help="unnatural: core-generation requests, one new example each (default 20)")
    m.add_argument("--paraphrases", type=int, default=2, metavar="K",
                   help="unnatural: rephrasings asked for per kept example (0: no expansion; default 2)")
    m.add_argument("--seed-examples", default=None, metavar="FILE",
                   help="unnatural: seed examples JSONL (instruction, input, constraints; default: the packaged 15)")
    m.add_argument("--epochs", type=int, default=4, metavar="M", help="evol: evolution epochs (default 4, as the paper)")
    m.add_argument("--pool", default=None, metavar="PATH",
                   help="evol: starting instructions: a run directory, an instruction JSONL, a Parquet file or "
                        "folder (default: the packaged seed tasks)")
    m.add_argument("--pool-limit", type=int, default=None, metavar="N", help="evol: only the first N of the pool")
    m.add_argument("--dedup", choices=["none", "rouge-l"], default="none",
                   help="also drop near-duplicate instructions by ROUGE-L above --threshold (exact copies always)")


def _packaged_examples() -> Path:
    from ...seeds import default_seed_path

    return default_seed_path().with_name(PACKAGED_EXAMPLES)


def _check(s: MethodSettings) -> None:
    check_ranges([("--num-examples", s.num_examples, 1, None), ("--paraphrases", s.paraphrases, 0, None),
                  ("--epochs", s.epochs, 1, None), ("--concurrency", s.concurrency, 1, None),
                  ("--pool-limit", s.pool_limit, 1, None), ("--max-cost", s.max_cost, 0.0, None),
                  ("--max-tokens", s.max_tokens, 1, None), ("--request-max-tokens", s.request_max_tokens, 1, None),
                  ("--threshold", s.threshold, 0.0, 1.0)])


def method_settings(args: argparse.Namespace, framing: str) -> MethodSettings:
    s = MethodSettings(method=args.method, seed=args.seed, framing=framing, concurrency=args.concurrency,
                       max_cost=args.max_cost, max_tokens=args.max_tokens, request_max_tokens=args.request_max_tokens,
                       max_failures=args.max_failures, dedup=args.dedup, threshold=args.threshold,
                       finetune_seed=args.finetune_seed, num_examples=args.num_examples, paraphrases=args.paraphrases,
                       epochs=args.epochs, pool_limit=args.pool_limit)
    _check(s)
    if s.method == "unnatural":
        path = Path(args.seed_examples) if args.seed_examples else _packaged_examples()
        s.seed_examples, s.seed_examples_sha256 = str(path), file_sha256(path) if path.is_file() else None
    else:
        pool = Path(args.pool) if args.pool else None
        s.pool = str(pool.resolve()) if pool is not None else None
        s.pool_sha256 = file_sha256(pool) if pool is not None and pool.is_file() else None
    return s


def build(settings: MethodSettings):
    """The method's loop, with its inputs read (one-line errors for bad ones)."""
    if settings.method == "unnatural":
        from .unnatural import UnnaturalInstructions, load_seed_examples

        return UnnaturalInstructions(settings, load_seed_examples(settings.seed_examples)).run
    from .evol import EvolInstruct
    from .pool import load_pool

    return EvolInstruct(settings, load_pool(settings.pool, settings.pool_limit)).run


def _report(runner: MethodRunner, out: Path) -> None:
    counts = runner.counts
    print(f"{runner.settings.method}: {counts.get('instances', 0)} instances in {out} ({runner.status})")
    if runner.status == "stopped_budget":
        print("stopped: budget reached (state saved; rerun with a larger --max-cost/--max-tokens to continue)",
              file=sys.stderr)
    elif runner.stop_reason is not None and runner.status.startswith("stopped"):
        raise RunStopped(f"{runner.stop_reason} (state saved in {out}; rerun the same command to resume)")


def run_method(args: argparse.Namespace, framing_of) -> int:
    out = Path(args.out)
    config: BackendConfig = config_from_args(args)
    settings = method_settings(args, framing_of(args.framing, config))
    method = build(settings)
    with DirectoryLock(out):
        runner = MethodRunner(out, settings, config, progress_bars=args.progress, force=args.force)
        if args.progress:
            print(f"selfinstruct: {settings.method} into {out} with {config.model}", file=sys.stderr, flush=True)
        runner.run(method)
    _report(runner, out)
    return 0


def replay_method(src: Path, out: Path, manifest: dict, records: list[dict], progress: bool) -> int:
    recorded = manifest.get("settings", {})
    names = {f.name for f in fields(MethodSettings)}
    settings = MethodSettings(**{k: v for k, v in recorded.items() if k in names})
    settings.replay_of = str(src)
    config = BackendConfig(model=recorded.get("model") or manifest.get("model") or "unknown")
    method = build(settings)
    with DirectoryLock(out):
        from ..replay import write_source_log

        write_source_log(out, records)
        runner = MethodRunner(out, settings, config, mode="replay", records=records, progress_bars=progress)
        runner.run(method)
    _report(runner, out)
    return 0


def is_method_run(manifest: dict | None) -> bool:
    return bool(manifest) and manifest.get("method") not in (None, "self-instruct")


