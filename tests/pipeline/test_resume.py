"""SIGKILL at random moments, resume, and get exactly the files of an uninterrupted run."""
from __future__ import annotations

import os
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder

from .conftest import derived_files, read_jsonl

KILLS = 10


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


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
        rng = random.Random(7)
        kills = 0
        for _ in range(KILLS * 3):
            before = _size(killed / "requests.jsonl")
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            # wait for the run to make some progress (a new round logged), then kill it at a random moment
            while proc.poll() is None and _size(killed / "requests.jsonl") <= before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.25))
            if proc.poll() is not None:
                assert proc.returncode == 0, proc.stderr.read().decode()
                break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            # nothing accepted is lost or duplicated at any moment
            kept = [r["instruction"] for r in read_jsonl_tolerant(killed / "machine_generated_instructions.jsonl")]
            assert len(kept) == len(set(kept))
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
