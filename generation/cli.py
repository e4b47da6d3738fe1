"""The `selfinstruct` command. Each area registers its own subcommands; this module only
assembles them and turns an `InputError` into one line on stderr and exit code 2.

Registrars import nothing heavy at module level (torch, datasets, transformers are imported
inside the command handlers), so `selfinstruct --help` stays instant.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .errors import EXIT_INPUT_ERROR, InputError, RunStopped
from .quiet import quiet


def _registrars():
    from selfinstruct.evaluation import cli as evaluation_cli
    from selfinstruct.evaluation.finetune import cli as finetune_cli
    from .lm import batch_cli
    from .lm import cli as lm_cli
    from .pipeline import cli as pipeline_cli
    from .publish import cli as publish_cli
    from .similarity import cli as similarity_cli

    return [pipeline_cli.register, similarity_cli.register, publish_cli.register,
            evaluation_cli.register, lm_cli.register, batch_cli.register, finetune_cli.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfinstruct",
        description="Generate instruction-tuning data the Self-Instruct way, package it as a "
        "Hugging Face dataset, and evaluate finetuned models as the paper did.",
    )
    parser.add_argument("--version", action="version", version=f"selfinstruct {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="show third-party warnings and loading bars (hidden by default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verbose:
        quiet()
    try:
        code = args.func(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except RunStopped as exc:
        print(f"error: {exc}" if exc.exit_code else str(exc), file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a path the command cannot read or write: the user's to fix, not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
