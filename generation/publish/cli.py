"""`selfinstruct dataset build|publish`: package a run as a Hub-ready folder, then release it."""
from __future__ import annotations

import argparse
import sys

from ..lock import holding


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dataset", help="package generated data as a Hugging Face dataset and publish it",
                            description="Package a run directory as a Hub-ready Parquet folder with a "
                            "dataset card, and publish it to the Hugging Face Hub as a tagged release.")
    actions = parser.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)

    build = actions.add_parser("build", help="write a Hub-ready folder (Parquet per config, README card, plots)")
    build.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (ours or the original scripts')")
    build.add_argument("--out", required=True, metavar="FOLDER", help="folder to create")
    build.add_argument("--seeds", metavar="FILE", help="seed tasks to measure novelty against "
                       "(default: the run's seed file, else the packaged seeds)")
    build.add_argument("--name", metavar="TEXT", help="pretty name for the card")
    build.add_argument("--license", default="apache-2.0", help="license id for the card (default: %(default)s)")
    build.add_argument("--repo-id", metavar="ORG/NAME", help="repository named in the card's loading example")
    build.add_argument("--validation-size", type=float, default=0.0, metavar="FRACTION",
                       help="share of instructions (by hash) moved to a validation split (default: none)")
    build.add_argument("--force", action="store_true", help="replace an existing, non-empty --out folder")
    build.add_argument("--no-progress", action="store_true", help="hide progress bars")
    build.set_defaults(func=holding(_build, kind="folder"))

    publish = actions.add_parser("publish", help="upload a built folder to the Hub in one commit, then tag it")
    publish.add_argument("folder", metavar="FOLDER", help="a folder written by `selfinstruct dataset build`")
    publish.add_argument("--repo-id", required=True, metavar="ORG/NAME")
    publish.add_argument("--tag", required=True, metavar="vX.Y.Z", help="release tag to create (must be new)")
    publish.add_argument("--private", action="store_true", help="create the repository as private")
    publish.add_argument("--revision", metavar="BRANCH", help="branch to commit to (created if missing)")
    publish.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    publish.add_argument("--message", metavar="TEXT", help="commit message")
    publish.add_argument("--endpoint", metavar="URL", help="Hub endpoint (default: $HF_ENDPOINT or huggingface.co)")
    publish.set_defaults(func=_publish)


def _build(args: argparse.Namespace) -> int:
    from selfinstruct.generation.errors import InputError

    from .folder import build_folder
    from .hub import check_repo_id

    if args.repo_id is not None:
        check_repo_id(args.repo_id)
    if not 0.0 <= args.validation_size < 1.0:
        raise InputError(f"must be a fraction in [0, 1), got {args.validation_size}", field="--validation-size")
    if args.no_progress:
        import datasets

        datasets.disable_progress_bars()
    result = build_folder(args.run_dir, args.out, seeds=args.seeds, pretty_name=args.name, license=args.license,
                          repo_id=args.repo_id, validation_size=args.validation_size, force=args.force,
                          progress=not args.no_progress)
    for name, rows in result.configs.items():
        print(f"{name}: " + ", ".join(f"{split} {n:,} rows" for split, n in rows.items()))
    print(f"wrote {result.folder}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from .hub import PublishError, publish_folder

    try:
        result = publish_folder(args.folder, args.repo_id, tag=args.tag, private=args.private,
                                revision=args.revision, create_pr=args.create_pr, commit_message=args.message,
                                endpoint=args.endpoint, log=lambda msg: print(msg, file=sys.stderr))
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"committed {result.commit_oid} ({result.files} files) to {result.repo_url}")
    if result.pr_url:
        print(f"pull request: {result.pr_url}")
    print(f"tagged {result.tag}: load_dataset({args.repo_id!r}, revision={result.tag!r})")
    return 0
