"""`selfinstruct evaluate data-quality RUN_DIR --out DIR`: judge a sample, write a sheet for
people, import their answers; every invocation rewrites the summary from all ratings in DIR."""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.lock import holding
from selfinstruct.generation.progress import request_bar


def _count(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None


def register(sub: argparse._SubParsersAction) -> None:
    from selfinstruct.generation.lm.config import add_model_arguments

    p = sub.add_parser("data-quality", help="is the generated data valid? (the paper's Table 2)",
                       description="Sample instructions of a run, one instance each, and ask an LLM judge and/or "
                                   "people three yes/no questions: valid task? fitting input? acceptable output?")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `selfinstruct generate`")
    p.add_argument("--out", required=True, help="output folder (ratings.jsonl, summary.json, report.md; rerun to resume)")
    p.add_argument("--sample", type=_count, default=200, help="instructions to sample (default: 200, as the paper)")
    p.add_argument("--seed", type=_count, default=0, help="sampling seed (default: 0)")
    add_model_arguments(p, prefix="judge-", default_model=None)
    p.add_argument("--judge-config", default="default", metavar="NAME|FILE",
                   help="the judge spec: a packaged one (default) or a YAML file (default: default)")
    p.add_argument("--judge-max-tokens", type=_count, default=None, help="judge reply limit (default: the spec's)")
    p.add_argument("--judge-temperature", type=float, default=None, help="judge temperature (default: the spec's)")
    p.add_argument("--answer-retries", type=_count, default=None,
                   help="re-asks when a reply is not in form, before the item counts as unanswered (default: the spec's)")
    p.add_argument("--sheet", action="store_true", help="also write sheet.html, the same questions for people")
    p.add_argument("--import-ratings", nargs="+", default=[], metavar="EXPORT",
                   help="add people's answers exported from sheet.html")
    p.add_argument("--rater", default=None, help="rater name for --import-ratings (default: the one typed in the sheet)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=holding(cmd_data_quality, kind="rundir"))


def _prepare(args: argparse.Namespace):
    from selfinstruct.generation.jsonl import read_jsonl, write_jsonl

    from .items import check_same_sample, read_run, sample_items
    from .spec import load_spec

    spec = load_spec(args.judge_config)
    if args.answer_retries is not None and args.answer_retries < 0:
        raise InputError("must be 0 or more", field="--answer-retries")
    items = sample_items(read_run(args.run_dir), args.sample, args.seed)
    out = Path(args.out)
    saved = out / "items.jsonl"
    if saved.exists():
        check_same_sample(items, read_jsonl(saved), out)
    else:
        write_jsonl(saved, [i.to_json() for i in items])
    return spec, items, out


def _import(args, out: Path, spec, known: set[str], existing: list) -> tuple[list, int]:
    from .sheet import ratings_from_export

    taken = {(r.id, r.rater) for r in existing}
    incoming, empty = [], 0
    for path in args.import_ratings:
        rs, without = ratings_from_export(path, known_ids=known, keys=spec.keys, rater=args.rater)
        empty += without
        for r in rs:
            if (r.id, r.rater) in taken:
                raise InputError(f"item {r.id} already rated by {r.rater!r} in {out / 'ratings.jsonl'}",
                                 file=path, field="ratings")
            taken.add((r.id, r.rater))
        incoming += rs
    return incoming, empty


def _pct(share: dict) -> str:
    return "n/a" if share["share"] is None else f"{100 * share['share']:.1f}% of {share['n']}"


def _previous(out: Path) -> dict:
    """The last manifest: its token counts carry over, and its backend stays recorded when this
    invocation asks no judge (a sheet or an import only)."""
    from selfinstruct.generation.rundir import read_manifest

    return read_manifest(out / "manifest.json") or {}


def cmd_data_quality(args: argparse.Namespace) -> int:
    import dataclasses

    from selfinstruct.generation.jsonl import JsonlAppender, atomic_writer, write_json

    from ..user_oriented.manifest import software_versions
    from ..user_oriented.judge import JudgeStats
    from .judge import load_ratings
    from .summary import render_report, summarize

    spec, items, out = _prepare(args)
    known = {i.id for i in items}
    path = out / "ratings.jsonl"
    existing = load_ratings(path, known, spec.keys) if path.exists() else []
    imported, empty = _import(args, out, spec, known, existing)
    if not (args.judge_model or args.sheet or imported or existing):
        raise InputError("nothing to do: give --judge-model, --sheet or --import-ratings", field="--judge-model")
    new: list = []
    old = _previous(out)
    stats, usage, backend = JudgeStats(), old.get("usage", {}), old.get("backend")
    with JsonlAppender(path) as log:
        def keep(rating):
            log.write(rating.to_json())
            new.append(rating)

        for r in imported:
            keep(r)
        if args.judge_model:
            stats, backend, usage = _judge(args, spec, items, existing, keep, usage)
    if args.sheet:
        from .sheet import build_sheet

        with atomic_writer(out / "sheet.html") as fh:
            fh.write(build_sheet(items, spec))
    everything = [*existing, *new]
    summary = summarize(everything, spec, sample_size=len(items), extra={"run_dir": str(args.run_dir)})
    write_json(out / "summary.json", summary)
    with atomic_writer(out / "report.md") as fh:
        fh.write(render_report(summary, spec, run_dir=Path(args.run_dir).name))
    write_json(out / "manifest.json", {
        "kind": "data-quality", "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": software_versions(), "run_dir": str(args.run_dir),
        "settings": {"sample": args.sample, "seed": args.seed, "judge_config": args.judge_config,
                     "answer_retries": args.answer_retries, "judge_max_tokens": args.judge_max_tokens,
                     "judge_temperature": args.judge_temperature},
        "judge_spec": spec.public_dict(), "backend": backend, "usage": usage,
        "counts": {"items": len(items), "ratings": len(everything), "imported": len(imported),
                   "imported_without_answers": empty, **dataclasses.asdict(stats)},
    })
    for rater, s in summary["shares"].items():
        shown = ", ".join(f"{q.key} {_pct(s[q.key])}" for q in spec.questions)
        print(f"{rater}: all questions yes {_pct(s['all'])} ({shown}); unanswered {s['unanswered']}")
    print(f"report: {out / 'report.md'}")
    if stats.backend_errors:
        print(f"{stats.backend_errors} judge requests failed (e.g. {stats.errors[0]}); rerun to retry them",
              file=sys.stderr)
        return 1
    return 0


def _judge(args, spec, items, existing, keep, usage: dict):
    from selfinstruct.generation.lm.config import config_from_args
    from selfinstruct.generation.lm.factory import make_backend

    from ..user_oriented.manifest import backend_usage
    from ..user_oriented.judge import JudgeStats
    from .judge import ask_judge

    config = config_from_args(args, prefix="judge-")
    rater = f"llm:{config.model}"
    done = {r.id for r in existing if r.rater == rater}
    todo = [i for i in items if i.id not in done]
    if not todo:
        return JudgeStats(), config.public_dict(), usage
    retries = spec.answer_retries if args.answer_retries is None else args.answer_retries
    params = spec.params(max_tokens=args.judge_max_tokens, temperature=args.judge_temperature)
    lm = make_backend(config)
    try:
        with request_bar(len(todo), f"data quality ({config.model})", [lm], enabled=not args.no_progress) as advance:
            stats = ask_judge(todo, lm, rater=rater, model=config.model, spec=spec, params=params, retries=retries,
                              use_chat=config.api != "completions", on_rating=keep, progress=advance)
        now = backend_usage(lm)
    finally:
        lm.close()
    before = usage.get(config.model, {})
    usage = {**usage, config.model: {k: before.get(k, 0) + v for k, v in now.items()}}
    return stats, config.public_dict(), usage
