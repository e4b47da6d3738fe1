"""Subcommands of this area; see `register`."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Placeholder until this area's commands land: registers nothing."""
