"""`selfinstruct evaluate ...`: each benchmark registers its own subcommands under it."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from .data_quality import cli as data_quality_cli
    from .experiment import cli as experiment_cli
    from .superni import cli as superni_cli
    from .user_oriented import cli as user_oriented_cli

    evaluate = sub.add_parser("evaluate", help="score finetuned models (superni, user-oriented) and generated data (data-quality)")
    benchmarks = evaluate.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    superni_cli.register(benchmarks)
    user_oriented_cli.register(benchmarks)
    data_quality_cli.register(benchmarks)
    experiment_cli.register(sub)  # `selfinstruct experiment`: a top-level command, built on the above
