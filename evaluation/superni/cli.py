"""`selfinstruct evaluate superni {run,score,download}`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from selfinstruct.generation.lock import holding


def register(sub: argparse._SubParsersAction) -> None:
    from selfinstruct.generation.lm.config import add_model_arguments

    p = sub.add_parser("superni", help="SuperNaturalInstructions: ROUGE-L / exact match, as the Self-Instruct paper")
    cmds = p.add_subparsers(dest="superni_command", metavar="COMMAND", required=True)

    run = cmds.add_parser("run", help="predict the test tasks with a model and score them")
    run.add_argument("--data-dir", type=Path, default=None,
                     help="natural-instructions folder (tasks/, splits/default/test_tasks.txt); "
                          "default: download the test tasks into the cache")
    run.add_argument("--data-url", default=None, help="base URL of the natural-instructions repository to download from")
    run.add_argument("--out", type=Path, required=True, help="output folder (rerun the same command to resume)")
    run.add_argument("--prompt", choices=["self-instruct", "tk-instruct"], default="self-instruct",
                     help="prompt encoding (default: self-instruct, zero-shot as in the paper)")
    run.add_argument("--num-pos-examples", type=int, default=None,
                     help="positive examples for tk-instruct (default 2); self-instruct uses none")
    run.add_argument("--max-instances", type=int, default=100, help="first N instances per task (default 100)")
    run.add_argument("--tasks", nargs="+", default=None, help="task names (default: the 119 English test tasks)")
    run.add_argument("--max-new-tokens", type=int, default=128, help="generation limit (default 128)")
    run.add_argument("--stop", action="append", default=[], help="stop sequence (repeatable; default none, as the paper)")
    run.add_argument("--max-context", type=int, default=None,
                     help="context length to fit prompts into (default: the local model's; API models: no fitting)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_arguments(run)
    run.set_defaults(func=holding(_run, kind="rundir"))

    score = cmds.add_parser("score", help="score a predictions file against official references")
    score.add_argument("--predictions", type=Path, required=True, help="JSONL with id, prediction")
    score.add_argument("--references", type=Path, required=True, help="JSONL with id, references[, task_id, task_category, track]")
    score.add_argument("--out", type=Path, default=None, help="write metrics JSON here")
    score.add_argument("--xlingual", action="store_true", help="use the cross-lingual track's GPT-2 tokenizer for every instance")
    score.add_argument("--xlingual-tokenizer", default="gpt2", help="local folder or Hub id of the gpt2 tokenizer")
    score.set_defaults(func=holding(_score))

    dl = cmds.add_parser("download", help="download the test tasks into the cache (resumable)")
    dl.add_argument("--cache-dir", type=Path, default=None, help="default: ~/.cache/selfinstruct/superni/natural-instructions")
    dl.add_argument("--data-url", default=None, help="base URL of the natural-instructions repository")
    dl.add_argument("--tasks", nargs="+", default=None, help="task names (default: the 119 English test tasks)")
    dl.add_argument("--no-progress", action="store_true")
    dl.set_defaults(func=_download)


def _summary(metrics: dict) -> str:
    return (f"SuperNI: ROUGE-L {metrics['rougeL']:.4f}  exact match {metrics['exact_match']:.4f}  "
            f"instances {metrics['count']}  missing {metrics['missing']}")


def _run(args: argparse.Namespace) -> int:
    from selfinstruct.generation.errors import InputError
    from selfinstruct.generation.lm.config import config_from_args

    from .run import RunOptions, run_evaluation

    for name in ("max_new_tokens", "max_instances", "batch_size"):
        if getattr(args, name) < 1:
            raise InputError("must be at least 1", field="--" + name.replace("_", "-"))
    opts = RunOptions(out=args.out, data_dir=args.data_dir, data_url=args.data_url, prompt=args.prompt,
                      num_pos_examples=args.num_pos_examples, max_instances=args.max_instances, tasks=args.tasks,
                      max_new_tokens=args.max_new_tokens, stop=args.stop,
                      max_context=args.max_context, progress=not args.no_progress)
    metrics = run_evaluation(config_from_args(args), opts)
    print(_summary(metrics))
    print(f"wrote {args.out}/predictions.jsonl, metrics.json, report.md, per_category.png, manifest.json")
    return 0


def _score(args: argparse.Namespace) -> int:
    from selfinstruct.generation.jsonl import write_json

    from .run import score_files

    metrics = score_files(args.predictions, args.references, xlingual=args.xlingual,
                          xlingual_tokenizer=args.xlingual_tokenizer)
    if args.out:
        write_json(args.out, metrics)
    else:
        json.dump(metrics, sys.stdout, indent=2)
        print()
    print(_summary(metrics), file=sys.stderr)
    return 0


def _download(args: argparse.Namespace) -> int:
    from .download import download_tasks

    report = download_tasks(args.cache_dir, tasks=args.tasks, base_url=args.data_url, progress=not args.no_progress)
    print(f"{len(report.downloaded)} downloaded, {len(report.skipped)} already cached, in {report.cache_dir}")
    return 0
