"""Both methods survive SIGKILL at random moments with nothing lost or paid twice, replay their
runs without model calls, and their runs become datasets that `load_dataset` reads back."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter

import pytest

from selfinstruct.generation import cli
from doubles.localserver import LocalServer
from doubles.family import respond
from sigkill import kill_repeatedly

from .conftest import method_argv, method_files, read_jsonl

CASES = {"unnatural": (["--num-examples", "24", "--concurrency", "1"], "paraphrases.jsonl"),
         "evol": (["--epochs", "2", "--pool-limit", "12", "--concurrency", "1"], "lineage.jsonl")}


@pytest.mark.parametrize("method", list(CASES))
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, method):
    extra, own = CASES[method]
    with LocalServer(respond, latency=0.04) as srv:
        reference = tmp_path / "reference"
        assert cli.main(method_argv(method, reference, srv.base_url, *extra)) == 0
        killed = tmp_path / "killed"
        cmd = [sys.executable, "-m", "selfinstruct.generation.cli", *method_argv(method, killed, srv.base_url, *extra)]
        kills = kill_repeatedly(cmd, killed / "requests.jsonl", tries=12, rng=random.Random(3), max_pause=0.2)
        assert kills >= 3, f"only {kills} kills landed before the run finished"
        final = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
    assert method_files(killed, own) == method_files(reference, own)
    answered = Counter((r["step"], r["key"]) for r in read_jsonl(killed / "requests.jsonl") if r["response"] is not None)
    assert answered and max(answered.values()) == 1  # no request answered (and paid for) twice


REPLAYS = {"unnatural": (["--num-examples", "12", "--paraphrases", "1"], "paraphrases.jsonl"),
           "evol": (["--epochs", "2", "--pool-limit", "12"], "lineage.jsonl")}


@pytest.mark.parametrize("method", list(REPLAYS))
def test_replay_equals_the_run_without_model_calls(tmp_path, run_method, server, method):
    extra, own = REPLAYS[method]
    out = tmp_path / "run"
    assert run_method(method, out, *extra) == 0
    seen = len(server.received)
    again = tmp_path / "replayed"
    assert cli.main(["replay", "--batch-dir", str(out), "--out", str(again), "--no-progress", "--no-summary"]) == 0
    assert len(server.received) == seen
    assert method_files(again, own) == method_files(out, own)
    assert json.loads((again / "manifest.json").read_text())["status"] == "replayed"


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
