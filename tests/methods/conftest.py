from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.generation import cli
from doubles.localserver import LocalServer

from doubles.family import respond

SECRET = "sk-test-SECRET-methods-0123456789"
FILES = ("machine_generated_instructions.jsonl", "all_generated_instances.jsonl", "rejected.jsonl",
         "finetuning/finetuning_prompt_completion.jsonl", "finetuning/finetuning_messages.jsonl",
         "finetuning/finetuning_alpaca.jsonl")


@pytest.fixture(scope="module")
def server():
    with LocalServer(respond) as srv:
        yield srv


def method_argv(method: str, out: Path, base_url: str, *extra: str) -> list[str]:
    return ["generate", "--method", method, "--out", str(out), "--model", "m", "--api", "completions",
            "--base-url", base_url, "--api-key", SECRET, "--no-progress", *extra]


@pytest.fixture
def run_method(server):
    def run(method: str, out: Path, *extra: str) -> int:
        return cli.main(method_argv(method, out, server.base_url, *extra))
    return run


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line.strip()]


def strip_times(obj):
    if isinstance(obj, dict):
        return {k: strip_times(v) for k, v in obj.items() if k != "created_at"}
    if isinstance(obj, list):
        return [strip_times(v) for v in obj]
    return obj


def method_files(run_dir: Path, extra: str) -> dict[str, list]:
    return {name: strip_times(read_jsonl(run_dir / name)) for name in (*FILES, extra)}
