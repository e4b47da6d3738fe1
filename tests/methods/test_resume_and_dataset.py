"""Both methods survive SIGKILL at random moments with nothing lost or paid twice, and their runs
become datasets that `load_dataset` reads back."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from selfinstruct.generation import cli
from doubles.localserver import LocalServer
from doubles.family import respond

from .conftest import method_argv, method_files, read_jsonl

CASES = {"unnatural": (["--num-examples", "24", "--concurrency", "1"], "paraphrases.jsonl"),
         "evol": (["--epochs", "2", "--pool-limit", "12", "--concurrency", "1"], "lineage.jsonl")}


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@pytest.mark.parametrize("method", list(CASES))
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, method):
    extra, own = CASES[method]
    with LocalServer(respond, latency=0.04) as srv:
        reference = tmp_path / "reference"
        assert cli.main(method_argv(method, reference, srv.base_url, *extra)) == 0
        killed = tmp_path / "killed"
        cmd = [sys.executable, "-m", "selfinstruct.generation.cli", *method_argv(method, killed, srv.base_url, *extra)]
        rng, kills = random.Random(3), 0
        for _ in range(12):
            before = _size(killed / "requests.jsonl")
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while proc.poll() is None and _size(killed / "requests.jsonl") <= before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.2))
            if proc.poll() is not None:
                assert proc.returncode == 0, proc.stderr.read().decode()
                break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        assert kills >= 3, f"only {kills} kills landed before the run finished"
        final = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
    assert method_files(killed, own) == method_files(reference, own)
    answered = Counter((r["step"], r["key"]) for r in read_jsonl(killed / "requests.jsonl") if r["response"] is not None)
    assert answered and max(answered.values()) == 1  # no request answered (and paid for) twice


@pytest.mark.parametrize("method, config", [("unnatural", "paraphrases"), ("evol", "lineage")])
def test_a_method_run_becomes_a_dataset(tmp_path, run_method, method, config):
    import datasets

    run = tmp_path / "run"
    extra, own = CASES[method]
    assert run_method(method, run, *extra) == 0
    folder = tmp_path / "dataset"
    assert cli.main(["dataset", "build", str(run), "--out", str(folder)]) == 0
    for name, source in ((config, own), ("instances", "all_generated_instances.jsonl")):
        files = sorted(str(p) for p in (folder / name).rglob("*.parquet")) or sorted(
            str(p) for p in folder.rglob(f"*{name}*.parquet"))
        assert files, (name, sorted(str(p.relative_to(folder)) for p in folder.rglob("*")))
        loaded = datasets.load_dataset("parquet", data_files=files, split="train")
        assert len(loaded) == len(read_jsonl(run / source))
    card = (folder / "README.md").read_text()
    assert {"unnatural": "2212.09689", "evol": "2304.12244"}[method] in card
