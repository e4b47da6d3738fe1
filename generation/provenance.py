"""What produced a file: the software versions every manifest records.

One list for the whole project, so a generation run, an evaluation and a rating file can be
compared later on the same footing; each area may add the packages its numbers depend on.
"""
from __future__ import annotations

import platform
from importlib import metadata

CORE_PACKAGES = ("selfinstruct", "torch", "transformers", "openai", "datasets", "numpy")


def software_versions(*extra: str) -> dict[str, str | None]:
    """Python and package versions; None for a package that is not installed."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in dict.fromkeys(CORE_PACKAGES + extra):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found
