"""`selfinstruct experiment CONFIG.yaml [--out DIR]`: the whole experiment, resumable."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="data, finetuning and evaluations from one YAML file (resumable)",
                       description="Run an experiment declared in one YAML file (docs/experiment.md): each stage "
                                   "is a selfinstruct command, skipped when its inputs are unchanged.")
    p.add_argument("config", metavar="CONFIG.yaml", help="the experiment file")
    p.add_argument("--out", type=Path, default=None,
                   help="experiment folder (default: experiment-<config name> in the current directory)")
    p.add_argument("--dry-run", action="store_true", help="check the file and print the stages, run nothing")
    p.add_argument("--no-progress", action="store_true", help="no stage bar")
    p.set_defaults(func=cmd_experiment)


def cmd_experiment(args: argparse.Namespace) -> int:
    from selfinstruct.generation.errors import InputError
    from selfinstruct.generation.lock import DirectoryLock

    from .config import load_config
    from .plan import plan
    from .results import write_results
    from .stages import check_commands, read_stage, redact_argv, run_stages, stage_hashes

    cfg = load_config(args.config)
    steps = plan(cfg)
    bad = check_commands(steps.stages)
    if bad:
        name, message = next(iter(bad.items()))
        raise InputError(f"stage {name}: {message}", file=args.config, field=_field_of(name))
    out = args.out or Path(f"experiment-{Path(args.config).stem}")
    names = [s.name for s in steps.stages]
    if args.dry_run:
        hashes = stage_hashes(steps.stages)
        for s in steps.stages:
            old = read_stage(out / "stages" / s.name) or {}
            state = "done" if old.get("hash") == hashes[s.name] and old.get("status") == "complete" else "to run"
            print(f"{s.name:<24} {state:<7} selfinstruct " + " ".join(redact_argv(s.args)))
        return 0
    with DirectoryLock(out, what="--out"):
        bar = _bar(len(steps.stages), enabled=not args.no_progress)
        try:
            def started(stage, n):
                bar.n = n
                bar.set_postfix_str(stage.name)
                print(f"[{n + 1}/{len(names)}] {stage.name}: selfinstruct {' '.join(redact_argv(stage.args))}",
                      file=sys.stderr)

            outcomes = run_stages(steps.stages, out, on_start=started)
            bar.n = len(names)
            bar.set_postfix_str("done")
        finally:
            bar.close()
            write_results(out, steps, names, name=cfg.name)  # what is finished so far, also after a failure
    skipped = sum(o.status == "skipped" for o in outcomes)
    print(f"{len(outcomes) - skipped} stages run, {skipped} already done; results: {out / 'results.json'}, "
          f"report: {out / 'report.md'}")
    return 0


def _field_of(stage: str) -> str:
    """The experiment-file field a stage's flags come from, for the error message."""
    for prefix, field in (("generate", "data.generate"), ("data-quality", "evaluations.data_quality"),
                          ("finetune", "finetune.flags"), ("superni-", "evaluations.superni"),
                          ("uo-", "evaluations.user_oriented")):
        if stage.startswith(prefix):
            return field
    return stage


def _bar(total: int, *, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="experiment", unit="stage", file=sys.stderr, disable=not enabled, leave=True)
