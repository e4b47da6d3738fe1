"""Computes the package list for the `selfinstruct.*` mapping.

setuptools' automatic discovery cannot rename `generation/` to `selfinstruct.generation`,
and a hand-written list of subpackages goes stale the day someone adds a folder.
Everything else lives in pyproject.toml.
"""
from setuptools import find_packages, setup

ROOTS = ("generation", "evaluation", "seeds")

setup(
    packages=[
        f"selfinstruct.{name}"
        for name in find_packages(include=[f"{root}*" for root in ROOTS])
    ],
)
