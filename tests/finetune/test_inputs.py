"""Where rows come from, and every user mistake ending as one line and exit code 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from selfinstruct.evaluation.finetune.data import load_training_data
from selfinstruct.generation.cli import main
from selfinstruct.generation.errors import InputError

from .conftest import MESSAGES, ROWS, write_run_dir


def _folder(root: Path, config: str, rows: list[dict]) -> Path:
    import datasets

    (root / config).mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(str(root / config / "train-00000-of-00001.parquet"))
    return root


def test_run_dir_rows_lose_the_gpt3_stop_marker_and_are_hashed(run_dir):
    data = load_training_data(run_dir)
    assert data.kind == "run_dir" and data.rows == len(ROWS) and not data.conversational
    assert data.dataset[0] == {"prompt": ROWS[0]["prompt"], "completion": " 3"}
    assert len(data.sha256) == 64 and load_training_data(run_dir).sha256 == data.sha256


def test_messages_become_a_chat_prompt_and_the_assistant_completion(run_dir):
    data = load_training_data(run_dir, config="messages")
    assert data.conversational
    row = data.dataset[0]
    assert row["prompt"] == MESSAGES[0]["messages"][:1] and row["completion"] == MESSAGES[0]["messages"][1:]


def test_built_folder_configs_read_from_parquet(tmp_path):
    folder = _folder(tmp_path / "hub", "finetuning", ROWS)
    _folder(folder, "messages", [{"messages": m["messages"], "id": m["id"]} for m in MESSAGES])
    pc = load_training_data(folder)
    assert pc.kind == "folder" and pc.rows == len(ROWS) and pc.dataset[1]["completion"] == " 7"
    assert load_training_data(folder, config="messages").conversational


def _exit_code(argv, capsys) -> tuple[int, str]:
    capsys.readouterr()  # drop what setting up the test printed
    code = main(["finetune", *argv, "--no-progress"])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("case", ["empty", "no_file", "wrong_columns", "last_turn_user", "unknown_config",
                                  "folder_without_config", "missing_path", "a_file", "merge_without_lora",
                                  "padding_free_with_packing"])
def test_bad_data_exits_2_with_one_line(case, tmp_path, capsys):
    out = ["--out", str(tmp_path / "ck")]
    if case == "empty":
        argv = ["--data", str(write_run_dir(tmp_path / "r", rows=[]))]
    elif case == "no_file":
        (tmp_path / "r").mkdir()
        (tmp_path / "r" / "manifest.json").write_text("{}")
        argv = ["--data", str(tmp_path / "r")]
    elif case == "wrong_columns":
        argv = ["--data", str(_folder(tmp_path / "f", "finetuning", [{"instruction": "x", "output": "y"}]))]
    elif case == "last_turn_user":
        bad = [{"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]}]
        argv = ["--data", str(write_run_dir(tmp_path / "r", messages=bad)), "--config", "messages"]
    elif case == "unknown_config":
        argv = ["--data", str(write_run_dir(tmp_path / "r")), "--config", "alpaca"]
    elif case == "folder_without_config":
        argv = ["--data", str(_folder(tmp_path / "f", "instances", [{"a": 1}])), "--config", "finetuning"]
    elif case == "missing_path":
        argv = ["--data", str(tmp_path / "nowhere")]
    elif case == "a_file":
        (tmp_path / "x.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
        argv = ["--data", str(tmp_path / "x.jsonl")]
    elif case == "padding_free_with_packing":
        argv = ["--data", str(write_run_dir(tmp_path / "r")), "--packing", "--padding-free"]
    else:
        argv = ["--data", str(write_run_dir(tmp_path / "r")), "--merge"]
    code, err = _exit_code(argv + out, capsys)
    assert code == 2, err
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert not (tmp_path / "ck").exists()  # nothing written for a refused start


@pytest.fixture
def offline(monkeypatch):
    """Hub look-ups fail at once instead of waiting on a network this machine may not have
    (the libraries read HF_HUB_OFFLINE at import, so the flags themselves are patched)."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_hub_dataset_that_cannot_be_loaded_is_an_input_error(offline):
    with pytest.raises(InputError, match="cannot load Hub dataset"):
        load_training_data("nobody-here/no-such-dataset", config="finetuning")


@pytest.mark.parametrize("model", ["missing_folder", "not_a_checkpoint", "unknown_hub_id"])
def test_unknown_model_exits_2(model, run_dir, tmp_path, capsys, offline, trl_installed):
    name = {"missing_folder": str(tmp_path / "no-model"), "unknown_hub_id": "nobody-here/no-such-model",
            "not_a_checkpoint": str(run_dir)}[model]
    code, err = _exit_code(["--data", str(run_dir), "--model", name, "--out", str(tmp_path / "ck")], capsys)
    assert code == 2 and "--model" in err and len(err.splitlines()) == 1, err
    if model == "not_a_checkpoint":
        assert "config.json" in err
    assert not (tmp_path / "ck").exists()


def test_a_folder_from_before_a_new_setting_still_resumes(tmp_path):
    """Settings written before a flag existed count as that flag's default, not as a change."""
    from dataclasses import asdict

    from selfinstruct.evaluation.finetune.train import SETTINGS_FILE, FinetuneSettings, _claim_output

    hashed = {"settings": asdict(FinetuneSettings(max_steps=2)), "data_sha256": "0" * 64}
    out = tmp_path / "ckpt"
    assert _claim_output(out, hashed) is False
    old = json.loads((out / SETTINGS_FILE).read_text())
    del old["settings"]["padding_free"]
    (out / SETTINGS_FILE).write_text(json.dumps(old))
    assert _claim_output(out, hashed) is False  # resumes
    changed = {**hashed, "settings": {**hashed["settings"], "max_steps": 3}}
    with pytest.raises(InputError, match="max_steps"):
        _claim_output(out, changed)
