"""SIGKILL at random moments, resume, and get exactly the files of an uninterrupted run."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder
from sigkill import kill_repeatedly

from .conftest import derived_files, read_jsonl

KILLS = 10


@pytest.mark.parametrize("extra", [[], ["--overlap-rounds"]], ids=["rounds", "overlapped-rounds"])
def test_sigkill_at_random_points_then_resume_equals_uninterrupted(tmp_path, generate, seed_file, extra):
    with LocalServer(synthetic_responder, latency=0.03) as srv:
        common = ["--num-instructions", "40", "--concurrency", "4", "--model", "local-test-model",
                  "--base-url", srv.base_url, "--api-key", "k", "--seed-tasks", str(seed_file),
                  "--no-progress", "--no-summary", *extra]
        reference = tmp_path / "reference"
        assert generate(reference, "--concurrency", "4", *extra, num=40, base_url=srv.base_url) == 0

        killed = tmp_path / "killed"
        cmd = [sys.executable, "-m", "selfinstruct.generation.cli", "generate", "--out", str(killed), *common]

        def nothing_kept_twice() -> None:  # nothing accepted is lost or duplicated at any moment
            kept = [r["instruction"] for r in read_jsonl_tolerant(killed / "machine_generated_instructions.jsonl")]
            assert len(kept) == len(set(kept))

        kills = kill_repeatedly(cmd, killed / "requests.jsonl", tries=KILLS * 3, rng=random.Random(7), max_pause=0.25,
                                after_kill=nothing_kept_twice)
        assert kills >= 10, f"only {kills} kills landed before the run finished"
        final = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
    assert derived_files(killed) == derived_files(reference)
    ids = [r["id"] for r in read_jsonl(killed / "machine_generated_instructions.jsonl")]
    assert ids == [f"instruction_{i}" for i in range(40)]


def read_jsonl_tolerant(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text("utf-8").split("\n"):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a torn last line
    return out
