"""`selfinstruct evaluate ...`: each benchmark registers its own subcommands under it."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from .superni import cli as superni_cli
    from .user_oriented import cli as user_oriented_cli

    evaluate = sub.add_parser("evaluate", help="score finetuned models (superni, user-oriented)")
    benchmarks = evaluate.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    superni_cli.register(benchmarks)
    user_oriented_cli.register(benchmarks)
