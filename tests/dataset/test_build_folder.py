"""`selfinstruct dataset build`: a Hub-ready folder that `load_dataset(FOLDER, CONFIG)` reads,
a card with front matter, provenance, schema, statistics, citation and no secrets, atomic output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset

from selfinstruct.generation.cli import main
from selfinstruct.generation.publish.card import parse_front_matter
from selfinstruct.generation.publish.schema import features

from .conftest import PLANTED_HF, PLANTED_SECRET


@pytest.fixture(scope="module")
def card(built_folder) -> str:
    return (built_folder / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("config, rows", [("instances", 29), ("instructions", 24), ("finetuning", 29),
                                          ("messages", 29)])
def test_every_config_loads_from_the_folder(built_folder, tmp_path_factory, config, rows):
    ds = load_dataset(str(built_folder), config, cache_dir=str(tmp_path_factory.mktemp("c")))
    assert list(ds) == ["train"] and len(ds["train"]) == rows
    assert ds["train"].features == features(config)
    assert (built_folder / config / "train-00000-of-00001.parquet").is_file()


def test_default_config_is_instances(built_folder, tmp_path):
    ds = load_dataset(str(built_folder), cache_dir=str(tmp_path))
    assert ds["train"].column_names == list(features("instances"))


def test_front_matter(card):
    meta = parse_front_matter(card)
    assert [c["config_name"] for c in meta["configs"]] == ["instances", "instructions", "finetuning", "messages"]
    assert meta["configs"][0]["default"] is True
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "instances/train-00000-of-00001.parquet"}]
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en"]
    assert meta["task_categories"] == ["text-generation"] and meta["size_categories"] == ["n<1K"]
    assert meta["pretty_name"] and "self-instruct" in meta["tags"]


def test_card_prose_has_provenance_schema_statistics_and_citation(card, built_folder):
    for text in ["gpt-3.5-turbo-instruct", "| profile | default |", "12,345", "6,789", "0.04",
                 "rouge_threshold: 0.7", "rouge_l 20", "### `instructions`", "`avg_similarity_score`",
                 "| instructions | 24 |", "| instances | 29 |", "| classification instructions | 5 |",
                 "arXiv:2212.10560", "@article{wang2022selfinstruct", 'load_dataset("acme/self-instruct-demo"']:
        assert text in card, text
    for rel in ["figures/instruction_length.png", "figures/output_length.png", "figures/rouge_to_nearest_seed.png",
                "figures/leading_verbs.png"]:
        assert f"]({rel})" in card
        assert (built_folder / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "write (2)" in card  # two instructions start with "Write"


def test_card_contains_no_secret(built_folder, card):
    assert PLANTED_SECRET not in card and PLANTED_HF not in card
    assert "[redacted]" in card
    for key in ("api_key", "openai_api_key", "OPENAI_API_KEY", "hf_token", "client_secret", "Authorization"):
        assert f"{key}:" not in card
    for path in built_folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert PLANTED_SECRET.encode() not in data and PLANTED_HF.encode() not in data, path


def test_upstream_folder_builds_without_manifest(upstream_run, tmp_path, upstream_seed_file):
    out = tmp_path / "up"
    assert main(["dataset", "build", str(upstream_run), "--out", str(out), "--seeds", str(upstream_seed_file),
                 "--no-progress"]) == 0
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "No run manifest was found" in card
    ds = load_dataset(str(out), "instances", cache_dir=str(tmp_path / "c"))["train"]
    assert ds[0]["instruction_id"].startswith("instruction_sha256_") and ds[0]["is_classification"] is True


def test_validation_split_in_the_folder(run_dir, tmp_path):
    out = tmp_path / "split"
    assert main(["dataset", "build", str(run_dir), "--out", str(out), "--validation-size", "0.3",
                 "--no-progress", "--seeds", str(run_dir / "nonexistent")]) == 2  # bad --seeds refused
    assert not out.exists()
    assert main(["dataset", "build", str(run_dir), "--out", str(out), "--validation-size", "0.3",
                 "--no-progress"]) == 0
    ds = load_dataset(str(out), "instances", cache_dir=str(tmp_path / "c"))
    assert set(ds) == {"train", "validation"}
    assert not set(ds["train"]["instruction"]) & set(ds["validation"]["instruction"])


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_empty_run_is_refused(tmp_path, capsys):
    run = tmp_path / "empty"
    run.mkdir()
    (run / "machine_generated_instructions.jsonl").write_text("")
    out = tmp_path / "out"
    assert main(["dataset", "build", str(run), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "no generated data" in err
    assert not out.exists() and _siblings(out) == []


def test_bad_line_fails_cleanly_and_keeps_the_old_folder(make_run, tmp_path, capsys):
    run = make_run(tmp_path / "run")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous build")
    assert main(["dataset", "build", str(run), "--out", str(out), "--no-progress"]) == 2
    assert "--force" in capsys.readouterr().err
    lines = (run / "all_generated_instances.jsonl").read_text().splitlines()
    lines[3] = lines[3][:-10]
    (run / "all_generated_instances.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["dataset", "build", str(run), "--out", str(out), "--force", "--no-progress"]) == 2
    assert "all_generated_instances.jsonl:4: invalid JSON" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "previous build" and _siblings(out) == []
    lines[3] = json.dumps({"instruction": "Fixed task here.", "input": "", "output": "ok"})
    (run / "all_generated_instances.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["dataset", "build", str(run), "--out", str(out), "--force", "--no-progress"]) == 0
    assert not (out / "keep.txt").exists() and (out / "README.md").is_file() and _siblings(out) == []


def test_killed_build_leaves_no_output(run_dir, tmp_path):
    """SIGKILL mid-build: --out never appears half-written; the abandoned temp sibling is removed
    by the next build."""
    out = tmp_path / "killed"
    code = ("import sys, selfinstruct.generation.publish.folder as f\n"
            "orig = f.write_plots\n"
            "def boom(*a, **k):\n"
            "    import os; os.kill(os.getpid(), 9)\n"
            "f.write_plots = boom\n"
            "from selfinstruct.generation.cli import main\n"
            f"main(['dataset', 'build', {str(run_dir)!r}, '--out', {str(out)!r}, '--no-progress'])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, MPLBACKEND="Agg"))
    assert proc.returncode == -9
    assert not out.exists()
    leftovers = _siblings(out)
    # the temp folder, and the killed holder's lock file (free: a flock dies with its holder)
    assert leftovers and all(name.startswith(".killed.building-") or name == ".killed.lock" for name in leftovers)
    # the next build clears what the killed one abandoned, and only that
    assert main(["dataset", "build", str(run_dir), "--out", str(out), "--no-progress"]) == 0
    assert (out / "README.md").is_file() and _siblings(out) == []


def test_a_running_builds_temp_folder_is_left_alone(run_dir, tmp_path):
    out = tmp_path / "busy"
    live = tmp_path / f".busy.building-{os.getpid()}-inprogress"  # this process is alive
    live.mkdir()
    assert main(["dataset", "build", str(run_dir), "--out", str(out), "--no-progress"]) == 0
    assert live.is_dir() and (out / "README.md").is_file()
