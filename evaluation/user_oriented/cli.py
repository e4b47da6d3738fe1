"""`selfinstruct evaluate user-oriented ...`: download, generate, judge, sheet, import-ratings,
report. Handlers import the heavy parts (backends, matplotlib) only when they run."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.lock import holding
from selfinstruct.generation.progress import request_bar


def _add_task_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("evaluation tasks")
    g.add_argument("--tasks-file", default=None,
                   help="local copy of user_oriented_instructions.jsonl (default: download once into the cache)")
    g.add_argument("--tasks-base-url", default=None,
                   help="where to download from (default: $SELFINSTRUCT_USER_ORIENTED_BASE_URL or "
                        "https://raw.githubusercontent.com/yizhongw/self-instruct/main)")
    g.add_argument("--cache-dir", default=None,
                   help="download cache (default: $SELFINSTRUCT_CACHE or ~/.cache/selfinstruct)")


def _tasks(args: argparse.Namespace):
    from .tasks import resolve_tasks

    return resolve_tasks(args.tasks_file, base_url=args.tasks_base_url, cache_dir=args.cache_dir)


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def register(sub: argparse._SubParsersAction) -> None:
    from selfinstruct.generation.lm.config import add_model_arguments

    uo = sub.add_parser("user-oriented", help="the 252 user-oriented instructions, rated A-D",
                        description="The Self-Instruct paper's user-oriented evaluation: responses to 252 "
                                    "instructions from real applications, rated A-D by LLM judges or people.")
    cmds = uo.add_subparsers(dest="uo_command", metavar="COMMAND", required=True)

    p = cmds.add_parser("download", help="download and verify the 252 tasks into the cache")
    _add_task_arguments(p)
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.set_defaults(func=cmd_download)

    p = cmds.add_parser("generate", help="a model's responses to every task (resumable)")
    add_model_arguments(p)
    p.add_argument("--out", required=True, help="predictions JSONL (appended to; rerun to resume)")
    p.add_argument("--max-new-tokens", type=_positive, default=512, help="response length limit (default: 512)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default: 0, greedy)")
    p.add_argument("--stop", action="append", default=[], help="stop sequence (repeatable; default: none)")
    p.add_argument("--limit", type=_positive, default=None, help="only the first N tasks (quick runs)")
    p.add_argument("--chunk-size", type=_positive, default=32, help="requests per saved chunk (default: 32)")
    p.add_argument("--model-name", default=None, help="name recorded in the `model` field (default: --model)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_task_arguments(p)
    p.set_defaults(func=holding(cmd_generate))

    p = cmds.add_parser("judge", help="rate responses A-D with an LLM judge")
    p.add_argument("--predictions", nargs="+", required=True, help="predictions files (ours or upstream's)")
    add_model_arguments(p, prefix="judge-", default_model=None)
    for action in p._actions:  # several judge models: --judge-model J1 J2
        if action.dest == "judge_model":
            action.nargs, action.required = "+", True
            action.help = "judge model(s); several give an agreement study across judges"
    p.add_argument("--judges", type=_positive, default=1,
                   help="K repeated samples per judge model, to measure its self-agreement (default: 1)")
    p.add_argument("--out", required=True, help="ratings JSONL (appended to; rerun to resume)")
    p.add_argument("--summary", default=None, help="agreement/length-bias summary (default: judge_summary.json beside --out)")
    p.add_argument("--judge-config", default="default", metavar="NAME|FILE",
                   help="the judge spec: a packaged one (default, verdict-only) or a YAML file; "
                        "the flags below override its settings (default: default)")
    p.add_argument("--judge-max-tokens", type=_positive, default=None, help="judge reply length limit (default: the spec's)")
    p.add_argument("--judge-temperature", type=float, default=None, help="judge temperature (default: the spec's)")
    p.add_argument("--verdict-retries", type=int, default=None,
                   help="re-asks when a reply has no valid verdict, before recording it unrated (default: the spec's)")
    p.add_argument("--max-response-chars", type=int, default=None,
                   help="longer responses are cut (with a note) before judging (default: the spec's)")
    p.add_argument("--limit", type=_positive, default=None, help="only the first N tasks of each model")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_task_arguments(p)
    p.set_defaults(func=holding(cmd_judge))

    p = cmds.add_parser("sheet", help="a self-contained HTML sheet for human raters")
    p.add_argument("--predictions", nargs="+", required=True, help="predictions files (ours or upstream's)")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--blind", action="store_true", help="hide model names and shuffle the order")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed for --blind (default: 0)")
    p.add_argument("--key", default=None, help="key file mapping items to task and model (default: OUT.key.json)")
    p.add_argument("--title", default=None, help="page title")
    p.add_argument("--limit", type=_positive, default=None, help="only the first N tasks of each model")
    _add_task_arguments(p)
    p.set_defaults(func=holding(cmd_sheet))

    p = cmds.add_parser("import-ratings", help="merge rating-sheet exports into a ratings JSONL")
    p.add_argument("exports", nargs="+", metavar="FILE", help="JSON exported from the sheet")
    p.add_argument("--out", required=True, help="ratings JSONL to merge into (rewritten atomically)")
    p.add_argument("--rater", default=None, help="rater name (default: the name typed into the sheet)")
    p.add_argument("--key", default=None, help="the sheet's key file (needed for blind sheets)")
    p.add_argument("--replace", action="store_true",
                   help="replace this rater's earlier ratings of the same items instead of refusing duplicates")
    _add_task_arguments(p)
    p.set_defaults(func=holding(cmd_import))

    p = cmds.add_parser("report", help="grade shares per model, figure, agreement")
    p.add_argument("--ratings", nargs="+", required=True, help="ratings JSONL files")
    p.add_argument("--out", required=True, help="output folder (report.md, summary.json, shares.png, agreement.json)")
    p.add_argument("--raters", nargs="+", default=None, metavar="PREFIX",
                   help="only raters whose name starts with one of these (e.g. human: or llm:gpt-4o)")
    _add_task_arguments(p)
    p.set_defaults(func=holding(cmd_report, kind="folder"))


def cmd_download(args: argparse.Namespace) -> int:
    from .tasks import download_tasks, file_sha256, load_tasks_file

    path = download_tasks(args.tasks_base_url, args.cache_dir, force=args.force)
    tasks = load_tasks_file(path)
    print(f"{len(tasks)} tasks verified: {path} (sha256 {file_sha256(path)})")
    return 0


def _sampling(max_tokens: int, temperature: float, stop=(), seed=None):
    from selfinstruct.generation.lm.base import SamplingParams

    return SamplingParams(max_tokens=max_tokens, temperature=temperature, stop=tuple(stop), seed=seed)


def cmd_generate(args: argparse.Namespace) -> int:
    from selfinstruct.generation.lm.config import config_from_args
    from selfinstruct.generation.lm.factory import make_backend

    from .generate import generate_predictions
    from .manifest import backend_usage, write_manifest
    from .tasks import file_sha256

    tasks, tasks_path = _tasks(args)
    if args.limit:
        tasks = tasks[: args.limit]
    config = config_from_args(args)
    model_name = args.model_name or config.model
    params = _sampling(args.max_new_tokens, args.temperature, args.stop)
    out = Path(args.out)
    from .generate import done_ids

    todo = len(tasks) - len(done_ids(out, tasks, model_name))  # validates a resumed file before loading a model
    lm = make_backend(config)
    try:
        with request_bar(todo, f"responses ({model_name})", [lm], enabled=not args.no_progress) as advance:
            stats = generate_predictions(lm, tasks, out, model=model_name, params=params,
                                         chunk_size=args.chunk_size, progress=advance)
        write_manifest(out, {
            "kind": "user-oriented-predictions", "model": model_name, "backend": config.public_dict(),
            "params": dataclasses.asdict(params), "tasks_file": str(tasks_path), "tasks_sha256": file_sha256(tasks_path),
            "counts": {"tasks": len(tasks), "already_done": stats.skipped_done, "requested": stats.requested,
                       "written": stats.written, "failed": stats.failed, "truncated_at_max_tokens": stats.truncated},
            "usage": backend_usage(lm),
        })
    finally:
        lm.close()
    print(f"{stats.written} responses written to {out} ({stats.skipped_done} already there, "
          f"{stats.truncated} cut at --max-new-tokens)")
    if stats.failed:
        print(f"{stats.failed} requests failed (e.g. {stats.errors[0]}); rerun the same command to retry them",
              file=sys.stderr)
        return 1
    return 0


def _limit_predictions(preds, tasks, limit):
    if not limit:
        return preds
    first = {t.id for t in tasks[:limit]}
    return [p for p in preds if p.id in first]


def _rater_names(model: str, samples: int) -> list[str]:
    """`llm:<model>`, or `llm:<model>#1..K` for K repeated samples."""
    return [f"llm:{model}"] if samples == 1 else [f"llm:{model}#{k + 1}" for k in range(samples)]


def cmd_judge(args: argparse.Namespace) -> int:
    from selfinstruct.generation.jsonl import JsonlAppender, repair_torn_tail
    from selfinstruct.generation.lm.config import config_from_args
    from selfinstruct.generation.lm.factory import make_backend

    from . import predictions as P
    from . import ratings as R
    from .judge import Judge, judge_items
    from .judge_spec import load_judge_spec
    from .manifest import backend_usage, write_manifest
    from .report import judge_summary
    from .stats import json_safe

    tasks, tasks_path = _tasks(args)
    by_id = {t.id: t for t in tasks}
    preds = _limit_predictions(P.load_many(args.predictions, tasks), tasks, args.limit)
    if args.verdict_retries is not None and args.verdict_retries < 0:
        raise InputError("must be 0 or more", field="--verdict-retries")
    spec = load_judge_spec(args.judge_config)
    retries = spec.verdict_retries if args.verdict_retries is None else args.verdict_retries
    out = Path(args.out)
    existing: list = []
    if out.exists():
        repair_torn_tail(out)
        existing = R.load_ratings(out, known_ids=set(by_id))
    done = {r.key for r in existing}
    base = config_from_args(args, prefix="judge-")
    models = list(dict.fromkeys(base.model))
    judges, backends = [], []
    try:
        for m in models:
            config = dataclasses.replace(base, model=m)
            raters = _rater_names(m, args.judges)
            if all((p.id, p.model, r) in done for p in preds for r in raters):
                continue  # nothing left for this judge: do not load or connect to it
            lm = make_backend(config)
            backends.append((m, config, lm))
            for k, rater in enumerate(raters):
                judges.append(Judge(rater=rater, model_name=m, lm=lm, sample=k + 1, use_chat=config.api != "completions",
                                    seed=k + 1 if args.judges > 1 else None))
        todo = sum(1 for p in preds for j in judges if (p.id, p.model, j.rater) not in done)
        params = spec.params(max_tokens=args.judge_max_tokens, temperature=args.judge_temperature)
        new: list = []
        with JsonlAppender(out) as log, request_bar(todo, "judging", [lm for _, _, lm in backends],
                                                    enabled=not args.no_progress) as advance:
            def keep(rating):
                log.write(rating.to_json())
                new.append(rating)

            stats = judge_items([(p, by_id[p.id]) for p in preds], judges, on_rating=keep, params=params,
                                spec=spec, verdict_retries=retries, max_response_chars=args.max_response_chars,
                                skip=done, progress=advance)
        # Every rating in --out, earlier runs' judges included, so a second run adds to the
        # summary instead of replacing it (length bias: the items of the predictions read here).
        everything = [*existing, *new]
        usage = {m: backend_usage(lm) for m, _, lm in backends}
        summary = judge_summary(everything, preds, extra={
            "judge_prompt_version": spec.version, "judge_spec": spec.public_dict(),
            "run": {"requests": stats.requests, "retried_for_verdict": stats.retried, "rated": stats.rated,
                    "unrated": stats.unrated, "backend_errors": stats.backend_errors, "skipped_done": len(done)},
            "usage": usage,
        })
        summary_path = Path(args.summary) if args.summary else out.with_name("judge_summary.json")
        from selfinstruct.generation.jsonl import write_json

        write_json(summary_path, summary)
        write_manifest(out, {
            "kind": "user-oriented-judge-ratings", "judges": [j.rater for j in judges],
            "backends": {m: c.public_dict() for m, c, _ in backends}, "params": dataclasses.asdict(params),
            "verdict_retries": retries, "judge_prompt_version": spec.version, "judge_spec": spec.public_dict(),
            "predictions": [str(p) for p in args.predictions], "tasks_file": str(tasks_path),
            "counts": summary["run"], "usage": usage,
        })
    finally:
        for _, _, lm in backends:
            lm.close()
    _print_judge_summary(json_safe(summary), summary_path)
    if stats.backend_errors:
        print(f"{stats.backend_errors} judge requests failed (e.g. {stats.errors[0]}); rerun to retry them",
              file=sys.stderr)
        return 1
    return 0


def _print_judge_summary(summary: dict, path: Path) -> None:
    def f(x):
        return "n/a" if x is None else f"{x:.3f}"

    print("ratings per judge:")
    for rater, c in summary["counts"].items():
        shares = summary["shares_by_rater"].get(rater, {})
        per_model = "; ".join(f"{m}: " + " ".join(f"{g} {100 * s[g]:.0f}%" for g in "ABCD")
                              for m, s in shares.items() if s["A"] is not None)
        print(f"  {rater}: {c['rated']} rated, {c['unrated']} unrated  [{per_model}]")
    agreement = summary["agreement"]
    if agreement["pairs"]:
        print(f"agreement: mean {f(agreement['mean_percent_agreement'])}, mean Cohen's kappa "
              f"{f(agreement['mean_cohen_kappa'])} over {len(agreement['pairs'])} pair(s)")
    lb = summary["length_bias"].get("all")
    if lb:
        means = ", ".join(f"{g} {f(lb['per_grade'][g]['mean_length'])}" for g in "ABCD")
        print(f"length bias: mean words per grade {means}; Spearman(grade, length) "
              f"{f(lb['spearman_grade_vs_length'])} (n={lb['n']})")
    print(f"summary: {path}")


def cmd_sheet(args: argparse.Namespace) -> int:
    from selfinstruct.generation.jsonl import atomic_writer, write_json

    from . import predictions as P
    from .sheet import build_sheet

    tasks, _ = _tasks(args)
    preds = _limit_predictions(P.load_many(args.predictions, tasks), tasks, args.limit)
    sheet = build_sheet(preds, tasks, blind=args.blind, seed=args.seed, title=args.title)
    out = Path(args.out)
    key_path = Path(args.key) if args.key else out.with_name(out.stem + ".key.json")
    write_json(key_path, sheet.key_file_json())
    with atomic_writer(out) as fh:
        fh.write(sheet.html)
    print(f"{len(preds)} items -> {out} (sheet {sheet.sheet_id}{', blind' if sheet.blind else ''}); key file {key_path}")
    if sheet.blind:
        print("keep the key file away from raters; import needs it: --key " + str(key_path))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from selfinstruct.generation.jsonl import write_jsonl

    from . import ratings as R
    from .sheet import ratings_from_export

    tasks, _ = _tasks(args)
    known = {t.id for t in tasks}
    out = Path(args.out)
    existing = R.load_ratings(out, known_ids=known) if out.exists() else []
    incoming: list = []
    skipped = 0
    owner: dict = {}
    for path in args.exports:
        rs, without = ratings_from_export(path, rater=args.rater, key_file=args.key, known_ids=known)
        skipped += without
        for r in rs:
            if r.key in owner:
                raise InputError(f"task {r.id!r}, model {r.model!r} by {r.rater!r} is also in {owner[r.key]}",
                                 file=path, field="ratings")
            owner[r.key] = path
        incoming += rs
    new_keys = {r.key for r in incoming}
    clashes = [r for r in existing if r.key in new_keys]
    if clashes and not args.replace:
        c = clashes[0]
        raise InputError(f"{len(clashes)} rating(s) already in {out}, e.g. task {c.id!r}, model {c.model!r} by "
                         f"{c.rater!r}; pass --replace to overwrite them", file=args.exports[0], field="ratings")
    kept = [r for r in existing if r.key not in new_keys]
    write_jsonl(out, [r.to_json() for r in [*kept, *incoming]])
    print(f"{len(incoming)} human ratings merged into {out} ({len(clashes)} replaced, {len(kept)} kept; "
          f"{skipped} entries without a grade left out)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from . import ratings as R
    from .report import write_report
    from .stats import GRADES

    tasks, _ = _tasks(args)
    ratings = R.load_many(args.ratings, known_ids={t.id for t in tasks})
    if args.raters:
        ratings = [r for r in ratings if r.rater.startswith(tuple(args.raters))]
    if not ratings:
        raise InputError("no ratings to report" + (" for these --raters" if args.raters else ""),
                         file=", ".join(args.ratings))
    summary = write_report(ratings, args.out, sources=args.ratings)
    for model, row in summary.items():
        shown = "  ".join(f"{g} {100 * row[g]:.1f}%" for g in GRADES) if row["A"] is not None else "no rated items"
        print(f"{model}: {shown}  unrated {row['unrated']}")
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0
