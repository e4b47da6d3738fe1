"""Fixtures for batch mode: the Batch API stand-in answering with the synthetic responder, a
backend made the way commands make it, and a helper that runs the real CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from doubles.batch_standin import BatchStandin
from doubles.synthetic import synthetic_responder
from selfinstruct.generation import cli
from selfinstruct.generation.lm.batch_backend import BatchAPIBackend
from selfinstruct.generation.lm.config import BackendConfig

SECRET = "sk-test-BATCH-SECRET-never-written-42"


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setenv("SELFINSTRUCT_BATCH_POLL_SECONDS", "0.02")


@pytest.fixture
def standin():
    with BatchStandin(synthetic_responder, require_api_key=SECRET) as srv:
        yield srv


def backend(srv, root: Path, **kw) -> BatchAPIBackend:
    config = BackendConfig(model=kw.pop("model", "local-test-model"), base_url=srv.base_url, api_key=SECRET,
                           batch_api=kw.pop("batch_api", True), batch_dir=str(root), **kw)
    return BatchAPIBackend(config, max_poll=0.05)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(l) for l in Path(path).read_text("utf-8").splitlines() if l.strip()]


def run_cli(srv, *argv: str) -> int:
    return cli.main([*argv, "--base-url", srv.base_url, "--api-key", SECRET])


def generate_argv(out: Path, seed_file: Path, *extra: str, num: int = 12) -> list[str]:
    return ["generate", "--out", str(out), "--model", "local-test-model", "--seed-tasks", str(seed_file),
            "--num-instructions", str(num), "--no-progress", "--no-summary", *extra]
