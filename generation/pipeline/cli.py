"""`selfinstruct generate [STEP]` and `selfinstruct replay`.

`generate` without a step runs (or resumes) all four steps; with a step it runs only that one on
an existing run directory, taking every setting not given on the command line from the run's
manifest. `replay` re-derives a run's files from recorded responses with no model calls.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError, RunStopped
from ..lock import DirectoryLock
from ..lm.config import DEFAULT_BATCH_SIZE, BackendConfig, add_model_arguments, config_from_args
from .methods.cli import add_method_arguments, is_method_run, replay_method, run_method
from .methods.settings import METHODS
from .settings import check_ranges
from .profiles import PROFILE_NAMES, STEP_NAMES, get_profile
from .upstream_copy import default_seed_file


# settings that a single-step command takes from the manifest unless given explicitly
_INHERITED = ("num_instructions", "profile", "seed", "finetune_seed", "threshold", "framing", "concurrency",
              "classification_only", "include_seed_instances", "seed_tasks", "max_cost", "max_tokens",
              "request_max_tokens", "prompts_per_request", "overlap_rounds", "upstream_dir", "num_prompt_instructions",
              "request_batch_size", "max_instances_to_generate")
_INHERITED_MODEL = ("model", "backend", "api", "base_url", "batch_size", "device")


def _add_filter_arguments(p: argparse.ArgumentParser, seed_help: str) -> None:
    p.add_argument("--profile", choices=PROFILE_NAMES, default="default",
                   help="default: the paper's method with upstream's quirks fixed; upstream: the released "
                        "scripts' decisions exactly (see docs/pipeline.md)")
    p.add_argument("--seed-tasks", default=None, help=seed_help)
    p.add_argument("--threshold", type=float, default=0.7, help="ROUGE-L near-duplicate threshold (default 0.7)")
    p.add_argument("--finetune-seed", type=int, default=123, help="seed for the instance cap and templates (default 123)")
    p.add_argument("--no-seed-instances", dest="include_seed_instances", action="store_false",
                   help="do not append the seed tasks' instances to the finetuning data")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--no-summary", dest="summary", action="store_false", help="do not print the summary at the end")


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("generate", help="generate instruction data the Self-Instruct way (all steps, or one)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("step", nargs="?", choices=STEP_NAMES, default=None,
                   help="run only this step on an existing run directory (default: all, resuming)")
    g.add_argument("--out", required=True, help="run directory (created, or resumed when it exists)")
    g.add_argument("--method", choices=METHODS, default="self-instruct",
                   help="self-instruct (the paper's four steps), unnatural (Unnatural Instructions) or evol "
                        "(Evol-Instruct); see docs/methods.md (default: self-instruct)")
    g.add_argument("--num-instructions", type=int, default=None,
                   help="instructions to keep in step 1 (required for a new run)")
    g.add_argument("--seed", type=int, default=42, help="sampling seed for step 1 prompts (default 42)")
    g.add_argument("--framing", choices=["auto", "completion", "chat"], default="auto",
                   help="send the paper's prompts as text (completion) or inside a conversation (chat)")
    g.add_argument("--classification-only", action="store_true",
                   help="bootstrap classification tasks only (classification seeds, classification header)")
    g.add_argument("--max-cost", type=float, default=None, help="stop after the round in flight once this many USD are spent")
    g.add_argument("--max-tokens", type=int, default=None,
                   help="total token budget (prompt + completion) for the run; stops after the round in flight")
    g.add_argument("--request-max-tokens", type=int, default=None,
                   help="cap every request's max_tokens (the method's are 1024 / 3 / 300-350); for small local models")
    g.add_argument("--prompts-per-request", type=int, default=None, metavar="K",
                   help="pack up to K completions prompts with the same parameters into one request as a list "
                        "prompt (OpenAI, vLLM; cuts client CPU per prompt; chat cannot pack; default 1, and the "
                        "request batch size with --profile upstream, as the original scripts sent them)")
    g.add_argument("--upstream-dir", default=None, metavar="DIR",
                   help="a copy of the original Self-Instruct repository for --profile upstream (its prompt "
                        "templates and data/seed_tasks.jsonl; default: downloaded at the pinned commit)")
    g.add_argument("--num-prompt-instructions", type=int, default=None, metavar="N",
                   help="instructions shown in each step-1 prompt (the original's --num_prompt_instructions; "
                        "default 8)")
    g.add_argument("--request-batch-size", type=int, default=None, metavar="N",
                   help="step-1 prompts per round, each round filtered before the next is sampled (the original's "
                        "--request_batch_size; default 5 with --profile upstream, else --concurrency)")
    g.add_argument("--max-instances-to-generate", type=int, default=None, metavar="N",
                   help="instances asked for per instruction in step 3 (the original's "
                        "--max_instances_to_generate; the request stops at \"Example N+1\"; default 5)")
    g.add_argument("--overlap-rounds", action="store_true",
                   help="send step-1 round r+1 while round r is being filtered, its prompts sampled from the pool "
                        "as it was one round earlier (default profile; hides filtering time behind the network "
                        "wait; a recorded setting: see docs/pipeline.md)")
    g.add_argument("--max-failures", type=int, default=32, metavar="N",
                   help="stop a step after N failed requests in a row (0: never; default 32)")
    g.add_argument("--max-empty-rounds", type=int, default=25, metavar="N",
                   help="stop step 1 after N answered rounds in a row that keep no instruction (0: never; default 25)")
    g.add_argument("--force", action="store_true", help="resume even though the settings differ from the run's")
    _add_filter_arguments(g, "seed task JSONL (default: the packaged seeds)")
    add_method_arguments(g)
    add_model_arguments(g)
    g.set_defaults(func=_generate)

    r = sub.add_parser("replay", help="re-derive a run's kept sets from recorded responses (no model calls)",
                       description="Re-filter an upstream batch directory or one of our run directories offline.")
    r.add_argument("--batch-dir", required=True, help="upstream batch dir or a selfinstruct run dir")
    r.add_argument("--out", required=True, help="where to write the re-derived files")
    r.add_argument("--num-instructions", type=int, default=None, help="stop after this many kept instructions")
    r.add_argument("--force", action="store_true", help="write into a directory that holds a generation run")
    r.add_argument("--classification-only", action="store_true", default=None,
                   help="the batch was made from the classification seeds only (the original's "
                        "--use_clf_seed_tasks_only; default: as the run recorded, or as an upstream batch's "
                        "prompts show)")
    _add_filter_arguments(r, "seed task JSONL (default: the one the run recorded; required for an upstream batch)")
    r.set_defaults(func=_replay)


def _seed_info(path: str | None):
    from ..seeds import default_seed_path, load_seed_tasks
    from ..rundir import file_sha256

    seeds = load_seed_tasks(path)
    real = Path(path) if path else default_seed_path()
    return seeds, str(real), file_sha256(real)


def _inherit(args: argparse.Namespace, parser_defaults: dict, manifest: dict | None) -> None:
    """Single-step commands: a setting left at its default takes the run's recorded value."""
    if not manifest:
        return
    recorded = manifest.get("settings", {})
    for name in _INHERITED + _INHERITED_MODEL:
        if name in recorded and getattr(args, name, None) == parser_defaults.get(name):
            setattr(args, name, recorded[name])


def _generate(args: argparse.Namespace) -> int:
    from .driver import Driver
    from .settings import GenerateSettings
    from ..rundir import RunPaths, read_manifest
    from .summary import summary_text

    out = Path(args.out)
    manifest = read_manifest(RunPaths(out).manifest)
    if args.method != "self-instruct" or is_method_run(manifest):
        if args.step is not None:
            raise InputError("steps belong to --method self-instruct; run the whole method", field="step")
        if is_method_run(manifest) and manifest.get("method") != args.method:
            raise InputError(f"this run directory holds a --method {manifest.get('method')} run", file=out,
                             field="--method")
        from .settings import resolve_framing

        return run_method(args, resolve_framing)
    defaults = {"num_instructions": None, "profile": "default", "seed": 42, "finetune_seed": 123, "threshold": 0.7,
                "framing": "auto", "concurrency": 16, "classification_only": False, "include_seed_instances": True,
                "seed_tasks": None, "max_cost": None, "max_tokens": None, "request_max_tokens": None, "prompts_per_request": None, "overlap_rounds": False,
                "upstream_dir": None, "num_prompt_instructions": None, "request_batch_size": None,
                "max_instances_to_generate": None,
                "model": "smollm2", "backend": "auto",
                "api": "auto", "base_url": None, "batch_size": DEFAULT_BATCH_SIZE, "device": None}
    if args.step is not None:
        if manifest is None and args.step != "bootstrap":
            raise InputError("no run here yet; run `selfinstruct generate --out DIR --num-instructions N` first",
                             file=out, field="--out")
        _inherit(args, defaults, manifest)
    if manifest is not None and args.num_instructions is None:
        args.num_instructions = manifest.get("settings", {}).get("num_instructions")
    if args.num_instructions is None:
        raise InputError("required for a new run", field="--num-instructions")
    _check_ranges(args)
    profile = get_profile(args.profile)
    if args.upstream_dir is not None:
        args.upstream_dir = str(Path(args.upstream_dir).resolve())
    seed_file = args.seed_tasks or default_seed_file(profile, args.upstream_dir)
    seeds, seed_path, sha = _seed_info(str(seed_file) if seed_file else None)
    if args.prompts_per_request is None:  # the original sent each round's prompts in one request
        args.prompts_per_request = (args.request_batch_size or profile.round_size) if profile.single_rng_stream else 1
    settings = GenerateSettings(
        num_instructions=args.num_instructions, profile=args.profile, seed=args.seed,
        finetune_seed=args.finetune_seed, threshold=args.threshold, framing=args.framing,
        concurrency=args.concurrency, classification_only=args.classification_only,
        include_seed_instances=args.include_seed_instances, max_cost=args.max_cost, max_tokens=args.max_tokens,
        request_max_tokens=args.request_max_tokens, prompts_per_request=args.prompts_per_request,
        overlap_rounds=args.overlap_rounds, max_failures=args.max_failures, max_empty_rounds=args.max_empty_rounds,
        seed_tasks=seed_path, seed_tasks_sha256=sha, upstream_dir=args.upstream_dir,
        num_prompt_instructions=args.num_prompt_instructions, request_batch_size=args.request_batch_size,
        max_instances_to_generate=args.max_instances_to_generate)
    config: BackendConfig = config_from_args(args)
    steps = STEP_NAMES if args.step is None else (args.step,)
    with DirectoryLock(out):
        driver = Driver(out, settings, config, seeds, force=args.force, progress=args.progress)
        if args.progress:
            print(f"selfinstruct: {', '.join(steps)} into {out} with {config.model}", file=sys.stderr, flush=True)
        status = driver.run(steps)
    if args.summary:
        print(summary_text(out))
    if status == "stopped_budget":
        print("stopped: budget reached (state saved; rerun with a larger --max-cost/--max-tokens to continue)",
              file=sys.stderr)
    if driver.stop_reason is not None:
        raise RunStopped(f"{driver.stop_reason} (state saved in {out}; rerun the same command to resume)")
    return 0


def _check_ranges(args: argparse.Namespace) -> None:
    """Numbers a run cannot use, refused before anything is written."""
    check_ranges([("--num-instructions", args.num_instructions, 1, None), ("--concurrency", args.concurrency, 1, None),
                  ("--prompts-per-request", args.prompts_per_request, 1, None), ("--threshold", args.threshold, 0.0, 1.0),
                  ("--max-cost", args.max_cost, 0.0, None), ("--max-tokens", args.max_tokens, 1, None),
                  ("--request-max-tokens", args.request_max_tokens, 1, None),
                  ("--max-failures", args.max_failures, 0, None), ("--max-empty-rounds", args.max_empty_rounds, 0, None),
                  ("--num-prompt-instructions", args.num_prompt_instructions, 1, None),
                  ("--request-batch-size", args.request_batch_size, 1, None),
                  ("--max-instances-to-generate", args.max_instances_to_generate, 1, None)])


def _replay(args: argparse.Namespace) -> int:
    from .driver import Driver
    from .settings import GenerateSettings
    from .replay import check_output_dir, infer_classification_only, source_records, write_source_log
    from .summary import summary_text

    src, out = Path(args.batch_dir), Path(args.out)
    records, info, manifest = source_records(src)
    check_output_dir(out, src, args.force)
    if is_method_run(manifest):
        return replay_method(src, out, manifest, records, args.progress)
    recorded = (manifest or {}).get("settings", {})
    seed_path = args.seed_tasks or recorded.get("seed_tasks")
    if manifest is None and args.seed_tasks is None:
        raise InputError("an upstream batch needs the seed file it was made with", field="--seed-tasks")
    seeds, seed_path, sha = _seed_info(seed_path)
    clf_only = args.classification_only
    if clf_only is None:
        clf_only = (recorded.get("classification_only", False) if manifest is not None
                    else infer_classification_only(records, seeds))
    num = args.num_instructions
    if num is None and manifest is not None:
        num = recorded.get("num_instructions")
    settings = GenerateSettings(
        num_instructions=num, profile=args.profile, seed=recorded.get("seed", 42),
        finetune_seed=args.finetune_seed, threshold=args.threshold,
        framing=(manifest or {}).get("framing", "completion"), concurrency=recorded.get("concurrency", 16),
        classification_only=clf_only,
        include_seed_instances=args.include_seed_instances, seed_tasks=seed_path, seed_tasks_sha256=sha)
    model = recorded.get("model") or info.get("engine") or "davinci"
    config = BackendConfig(model=model, backend=recorded.get("backend", "auto"), api=recorded.get("api", "auto"))
    with DirectoryLock(out):
        write_source_log(out, records)
        driver = Driver(out, settings, config, seeds, mode="replay", records=records, progress=args.progress,
                        manifest_extra={"replay_of": str(src), "source_format": info["source_format"]})
        driver.run()
    if args.summary:
        print(summary_text(out))
    return 0
