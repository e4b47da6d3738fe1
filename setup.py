"""Computes the package list for the `selfinstruct.*` mapping.

setuptools' automatic discovery cannot rename `generation/` to `selfinstruct.generation`,
and a hand-written list of subpackages goes stale the day someone adds a folder. Namespace
discovery also picks up data-only folders (prompt files, sheet assets) that have no
`__init__.py`, so their files ship in the wheel. Everything else lives in pyproject.toml.
"""
from setuptools import find_namespace_packages, setup

ROOTS = ("generation", "evaluation", "seeds")

setup(
    packages=[
        f"selfinstruct.{name}"
        for name in find_namespace_packages(include=[f"{root}*" for root in ROOTS])
        if "__pycache__" not in name.split(".")
    ],
)
