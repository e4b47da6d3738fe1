"""Fixtures for the pipeline tests: a real local OpenAI-compatible server answering with the
synthetic Self-Instruct responder, and a helper that runs the real `selfinstruct` CLI."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from selfinstruct.generation import cli
from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder

SECRET = "sk-test-SECRET-never-written-0123456789"


@pytest.fixture(scope="module")
def server():
    with LocalServer(synthetic_responder) as srv:
        yield srv


@pytest.fixture
def generate(server, seed_file, request):
    """Run `selfinstruct generate` in-process against the local server; returns the exit code.
    A run in the `upstream` profile downloads the original texts from a local mirror."""

    def run(out: Path, *extra: str, step: str | None = None, num: int | None = 20, base_url: str | None = None) -> int:
        if "upstream" in extra:
            request.getfixturevalue("upstream_mirror")
        argv = ["generate", *([step] if step else []), "--out", str(out),
                "--model", "local-test-model", "--base-url", base_url or server.base_url, "--api-key", SECRET,
                "--seed-tasks", str(seed_file), "--no-progress", "--no-summary"]
        if num is not None and "--num-instructions" not in extra:
            argv += ["--num-instructions", str(num)]
        return cli.main(argv + list(extra))

    return run


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(l) for l in Path(path).read_text("utf-8").splitlines() if l.strip()]


def strip_times(obj):
    """Records minus wall-clock fields, for comparing two runs."""
    if isinstance(obj, dict):
        return {k: strip_times(v) for k, v in obj.items() if k not in ("created_at",)}
    if isinstance(obj, list):
        return [strip_times(v) for v in obj]
    return obj


DERIVED = ("machine_generated_instructions.jsonl", "rejected.jsonl", "machine_generated_instances.jsonl",
           "all_generated_instances.jsonl", "finetuning/finetuning_prompt_completion.jsonl",
           "finetuning/finetuning_messages.jsonl", "finetuning/finetuning_alpaca.jsonl")


def derived_files(run_dir: Path) -> dict[str, list]:
    out = {name: strip_times(read_jsonl(run_dir / name)) for name in DERIVED}
    for p in sorted(run_dir.glob("is_clf_or_not_*.jsonl")):
        out[p.name] = read_jsonl(p)
    return out


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def original(upstream_repo):
    """The original scripts' modules (bootstrap_instructions, the two templates), imported from
    the copy in ../shared for differential tests; the project never ships or runs this code."""
    src = upstream_repo / "self_instruct"
    sys.path.insert(0, str(src))
    try:
        boot = _load(src / "bootstrap_instructions.py", "_original_bootstrap_instructions")
        clf = _load(src / "templates" / "clf_task_template.py", "_original_clf_task_template")
        inst = _load(src / "templates" / "instance_gen_template.py", "_original_instance_gen_template")
    finally:
        sys.path.remove(str(src))
    return boot, clf, inst
