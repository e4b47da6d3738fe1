"""Packed and padding-free batches: one flattened sequence per step, and no row may see another.

Flash attention separates rows by their position ids; the CPU's sdpa and eager kernels only do
so because transformers derives a block-diagonal mask from position ids that restart. If that
ever stopped (an attention mask in the batch, a cache, a library change), training would still
run and the loss would still fall, so these tests compare logits with each row run alone.
"""
from __future__ import annotations

import json

import pytest
from selfinstruct.evaluation.finetune.data import load_training_data
from selfinstruct.evaluation.finetune.train import MANIFEST_FILE, FinetuneSettings, RunOptions, build_trainer, load_base
from selfinstruct.generation.cli import main

pytestmark = pytest.mark.slow
FAST = {"batch_size": 4, "max_length": 48}


def _trainer(run_dir, tmp_path, **flags):
    data = load_training_data(run_dir)
    model, tokenizer, _ = load_base("smollm2")
    trainer = build_trainer(model, tokenizer, data, FinetuneSettings(**FAST, **flags), tmp_path / "ck",
                            RunOptions(progress=False))
    return trainer, model


def _first_batch(trainer):
    rows = range(min(FAST["batch_size"], len(trainer.train_dataset)))
    return trainer.data_collator([trainer.train_dataset[i] for i in rows])


@pytest.mark.parametrize("flag", ["packing", "padding_free"])
def test_flattened_rows_do_not_attend_to_each_other(flag, embedded_path, run_dir, tmp_path):
    import torch

    trainer, model = _trainer(run_dir, tmp_path, **{flag: True})
    batch = _first_batch(trainer)
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    positions = batch["position_ids"][0]
    starts = (positions == 0).nonzero().flatten().tolist() + [positions.numel()]
    assert len(starts) - 1 >= 2, "a single row cannot show a leak"
    if flag == "padding_free":
        assert len(starts) - 1 == FAST["batch_size"]  # the rows a padded batch would hold, no more
    model.eval()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        flat = model(**inputs, use_cache=False).logits[0]
        for a, b in zip(starts, starts[1:]):
            alone = model(input_ids=batch["input_ids"][:, a:b]).logits[0]
            assert torch.allclose(flat[a:b], alone, atol=1e-3), f"row at {a}:{b} sees the rows before it"


def test_padding_free_gives_the_padded_batch_loss(embedded_path, run_dir, tmp_path):
    import torch

    padded, model = _trainer(run_dir, tmp_path / "padded")
    free, _ = _trainer(run_dir, tmp_path / "free", padding_free=True)
    model.eval()
    with torch.no_grad():
        losses = [t.compute_loss(model, _first_batch(t)).item() for t in (padded, free)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)


def test_padding_free_run_records_it_in_the_manifest(embedded_path, run_dir, tmp_path):
    out = tmp_path / "ck"
    assert main(["finetune", "--data", str(run_dir), "--out", str(out), "--max-steps", "2", "--batch-size", "4",
                 "--max-length", "48", "--padding-free", "--no-progress"]) == 0
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["steps"] == 2 and manifest["settings"]["padding_free"] is True
    assert (out / "model.safetensors").is_file()
