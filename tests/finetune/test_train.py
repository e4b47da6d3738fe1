"""Real TRL training of the embedded SmolLM2 for a few steps on a handful of rows (CPU, seconds)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from selfinstruct.evaluation.finetune.data import load_training_data
from selfinstruct.evaluation.finetune.train import (
    MANIFEST_FILE,
    FinetuneSettings,
    RunOptions,
    build_trainer,
    load_base,
    run_finetune,
)
from selfinstruct.generation.cli import main

pytestmark = pytest.mark.slow
FAST = {"batch_size": 2, "max_length": 48}


def _tensors(folder: Path, name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / name))


def _unmasked_text(tokenizer, example) -> str:
    return tokenizer.decode([t for t, lab in zip(example["input_ids"], example["labels"]) if lab != -100])


def test_prompt_completion_rows_train_on_the_completion_only(embedded_path, run_dir, tmp_path):
    data = load_training_data(run_dir)
    model, tokenizer, _ = load_base("smollm2")
    trainer = build_trainer(model, tokenizer, data, FinetuneSettings(**FAST), tmp_path / "ck", RunOptions(progress=False))
    rows = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    by_prompt = {r["prompt"]: r["completion"] for r in data.dataset}
    for row in rows:
        text = tokenizer.decode(row["input_ids"])
        prompt = next(p for p in by_prompt if text.startswith(p))
        # exactly the completion, with the model's EOS in place of GPT-3's stop marker, carries loss
        assert _unmasked_text(tokenizer, row) == by_prompt[prompt] + tokenizer.eos_token
        assert "<|endoftext|>" not in text
    batch = trainer.data_collator(rows[:2])  # padding must not carry loss either
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
        assert all(lab == -100 for lab, m in zip(labels.tolist(), mask.tolist()) if m == 0)
        assert (labels != -100).sum() < mask.sum()


def test_packed_rows_still_train_on_completions_only(embedded_path, run_dir, tmp_path):
    data = load_training_data(run_dir)
    model, tokenizer, _ = load_base("smollm2")
    settings = FinetuneSettings(packing=True, **FAST)
    trainer = build_trainer(model, tokenizer, data, settings, tmp_path / "ck", RunOptions(progress=False))
    packed = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    assert len(packed) < data.rows  # several rows share a sequence
    trained = "".join(_unmasked_text(tokenizer, row) for row in packed)
    assert sorted(trained.split(tokenizer.eos_token)[:-1]) == sorted(r["completion"] for r in data.dataset)


def test_messages_rows_train_on_the_assistant_turn_only(embedded_path, run_dir, tmp_path):
    data = load_training_data(run_dir, config="messages")
    model, tokenizer, _ = load_base("smollm2")
    trainer = build_trainer(model, tokenizer, data, FinetuneSettings(**FAST), tmp_path / "ck", RunOptions(progress=False))
    for i, row in enumerate(trainer.train_dataset):
        answer = data.dataset[i]["completion"][0]["content"]
        trained = _unmasked_text(tokenizer, row)
        assert trained.startswith(answer) and "<|im_end|>" in trained
        assert "Add" not in trained and "user" not in trained


def test_full_finetune_writes_a_loadable_checkpoint_and_manifest(embedded_path, run_dir, tmp_path, capsys):
    out = tmp_path / "ck"
    argv = ["finetune", "--data", str(run_dir), "--out", str(out), "--max-steps", "2", "--batch-size", "2",
            "--max-length", "48", "--logging-steps", "1", "--no-progress"]
    assert main(argv) == 0
    assert "2 steps" in capsys.readouterr().out
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["steps"] == 2 and manifest["rows"] == 8 and manifest["saved"] == "full"
    assert isinstance(manifest["final_loss"], float) and manifest["wall_seconds"] > 0
    assert len(manifest["data"]["sha256"]) == 64
    assert {"torch", "transformers", "trl", "peft"} <= set(manifest["versions"])
    assert not list(out.glob("checkpoint-*"))
    for name in ("model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"):
        assert (out / name).is_file(), name

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tuned = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    base = AutoModelForCausalLM.from_pretrained(embedded_path, local_files_only=True)
    assert AutoTokenizer.from_pretrained(str(out)).chat_template
    changed = [k for k, v in tuned.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert changed, "training changed no weight"

    assert main(argv) == 0  # finished: the rerun reports it and trains nothing
    assert "already finished" in capsys.readouterr().err
    assert main(argv + ["--learning-rate", "1e-3"]) == 2  # other settings into the same folder: refused
    assert "learning_rate" in capsys.readouterr().err


class _Crash(Exception):
    pass


def _crash_after_first_save():
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise _Crash(state.global_step)

    return Crash()


def test_resume_after_a_crash_ends_with_the_uninterrupted_weights(embedded_path, run_dir, tmp_path):
    # LoRA with dropout: the resume must restore the RNG and the data order, not only the weights.
    settings = dict(max_steps=6, lora=True, seed=0, **FAST)  # 8 rows / batch 2: the crash is mid-epoch
    options = RunOptions(save_steps=3, progress=False)
    data = load_training_data(run_dir)
    whole = run_finetune(data, FinetuneSettings(**settings), tmp_path / "a", options, log=lambda m: None)

    with pytest.raises(_Crash):
        run_finetune(data, FinetuneSettings(**settings), tmp_path / "b", options,
                     callbacks=[_crash_after_first_save()], log=lambda m: None)
    assert not (tmp_path / "b" / MANIFEST_FILE).exists()
    assert (tmp_path / "b" / "checkpoint-3" / "trainer_state.json").is_file()
    resumed = run_finetune(data, FinetuneSettings(**settings), tmp_path / "b", options, log=lambda m: None)

    assert resumed["resumed_from"] == "checkpoint-3" and resumed["steps"] == whole["steps"] == 6
    import torch

    a, b = _tensors(tmp_path / "a", "adapter_model.safetensors"), _tensors(tmp_path / "b", "adapter_model.safetensors")
    assert a.keys() == b.keys() and a
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["final_loss"] == whole["final_loss"]


def test_lora_merge_saves_a_plain_safetensors_model(embedded_path, run_dir, tmp_path):
    out = tmp_path / "merged"
    manifest = run_finetune(load_training_data(run_dir), FinetuneSettings(max_steps=2, lora=True, merge=True, **FAST),
                            out, RunOptions(progress=False), log=lambda m: None)
    assert manifest["saved"] == "merged"
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    tensors = _tensors(out, "model.safetensors")
    assert not any("lora" in k for k in tensors)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    base = AutoModelForCausalLM.from_pretrained(embedded_path, local_files_only=True).state_dict()
    assert any(not torch.equal(v, base[k]) for k, v in model.state_dict().items())
    ids = tokenizer("Add 1 and 2.\nOutput:", return_tensors="pt").input_ids
    assert model.generate(ids, max_new_tokens=2, do_sample=False).shape[1] == ids.shape[1] + 2


def test_sigkill_during_training_resumes_to_the_same_full_weights(embedded_path, run_dir, tmp_path):
    """The real crash: `kill -9` of the command after its first checkpoint, then the same command."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    def argv(out: Path, save_steps: int) -> list[str]:
        return [sys.executable, "-m", "selfinstruct.generation.cli", "finetune", "--data", str(run_dir),
                "--out", str(out), "--max-steps", "4", "--batch-size", "2", "--max-length", "48",
                "--save-steps", str(save_steps), "--no-progress"]

    whole = tmp_path / "whole"  # --save-steps does not change the weights, so this run skips saving
    subprocess.run(argv(whole, 100), check=True, capture_output=True, timeout=300)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(argv(killed, 2), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (killed / "checkpoint-2" / "trainer_state.json").is_file():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / MANIFEST_FILE).exists(), "killed too late: the run had already finished"

    done = subprocess.run(argv(killed, 2), check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming from checkpoint-" in done.stderr
    manifest = json.loads((killed / MANIFEST_FILE).read_text())
    assert manifest["resumed_from"] and manifest["steps"] == 4
    a, b = _tensors(whole, "model.safetensors"), _tensors(killed, "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
