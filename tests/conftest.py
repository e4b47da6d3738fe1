"""Fixtures every area's tests share. Area-specific fixtures live in tests/<area>/conftest.py."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    env = os.environ.get("SELFINSTRUCT_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared", REPO / "shared"]
    for c in candidates:
        if (c / "upstream").is_dir():
            return c
    raise RuntimeError("../shared not found beside the checkout (set SELFINSTRUCT_SHARED)")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder: upstream data, specs and the benchmark corpus."""
    return _find_shared()


@pytest.fixture(scope="session")
def upstream_seed_file(shared_dir: Path) -> Path:
    return shared_dir / "upstream" / "self-instruct" / "data" / "seed_tasks.jsonl"


@pytest.fixture(scope="session")
def user_oriented_file(shared_dir: Path) -> Path:
    return shared_dir / "upstream" / "self-instruct" / "human_eval" / "user_oriented_instructions.jsonl"


@pytest.fixture(scope="session")
def embedded_lm():
    """The embedded SmolLM2-135M-Instruct through the local transformers backend, loaded once."""
    from selfinstruct.generation.lm.config import BackendConfig
    from selfinstruct.generation.lm.factory import make_backend

    lm = make_backend(BackendConfig())
    yield lm
    lm.close()
