"""Packed and padding-free batches: one flattened sequence per step, and no row may see another.

Flash attention separates rows by their position ids; without it the finetune switches to
`varlen.VARLEN`, which finds the rows from the position ids (or TRL's cu_seq_lens) itself, and
transformers' own sdpa and eager only separate them through a block-diagonal mask derived from
restarting position ids. If any of that ever stopped (an attention mask in the batch, a cache, a
library change, a wrong boundary), training would still run and the loss would still fall, so
these tests compare logits with each row run alone, under each implementation.
"""
from __future__ import annotations

import json

import pytest
from selfinstruct.evaluation.finetune.data import load_training_data
from selfinstruct.evaluation.finetune.train import MANIFEST_FILE, FinetuneSettings, RunOptions, build_trainer, load_base
from selfinstruct.evaluation.finetune.varlen import VARLEN
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


#: TRL's collator gives the row boundaries twice (cu_seq_lens and position ids); VARLEN prefers the
#: former, so the second case drops them to test the position ids alone.
BOUNDARY_KEYS = ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")
ATTENTIONS = [(VARLEN, False), (VARLEN, True), ("sdpa", False), ("eager", False)]


@pytest.mark.parametrize(("attention", "positions_only"), ATTENTIONS)
@pytest.mark.parametrize("flag", ["packing", "padding_free"])
def test_flattened_rows_do_not_attend_to_each_other(flag, attention, positions_only, embedded_path, run_dir, tmp_path):
    import torch

    trainer, model = _trainer(run_dir, tmp_path, **{flag: True})
    assert model.config._attn_implementation == VARLEN  # what the finetune picks without flash attention
    batch = _first_batch(trainer)
    assert all(k in batch for k in BOUNDARY_KEYS)
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    positions = batch["position_ids"][0]
    starts = (positions == 0).nonzero().flatten().tolist() + [positions.numel()]
    assert len(starts) - 1 >= 2, "a single row cannot show a leak"
    if flag == "padding_free":
        assert len(starts) - 1 == FAST["batch_size"]  # the rows a padded batch would hold, no more
    model.eval()
    inputs = {k: v for k, v in batch.items() if k != "labels" and not (positions_only and k in BOUNDARY_KEYS)}
    with torch.no_grad():
        model.set_attn_implementation(attention)
        flat = model(**inputs, use_cache=False).logits[0]
        model.set_attn_implementation("sdpa")  # the reference: each row alone, plain causal attention
        for a, b in zip(starts, starts[1:]):
            alone = model(input_ids=batch["input_ids"][:, a:b]).logits[0]
            assert torch.allclose(flat[a:b], alone, atol=1e-3), f"row at {a}:{b} sees the rows before it"


def test_padding_free_gives_the_padded_batch_loss_and_gradients(embedded_path, run_dir, tmp_path):
    padded, model = _trainer(run_dir, tmp_path / "padded")
    free, _ = _trainer(run_dir, tmp_path / "free", padding_free=True)
    model.eval()  # no dropout, so the two passes may be compared

    def loss_and_grads(trainer, attention):
        model.set_attn_implementation(attention)
        model.zero_grad()
        loss = trainer.compute_loss(model, _first_batch(trainer))
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    loss, grads = loss_and_grads(padded, "sdpa")
    free_loss, free_grads = loss_and_grads(free, VARLEN)
    assert free_loss == pytest.approx(loss, rel=1e-4)
    assert grads.keys() == free_grads.keys()
    for name, grad in grads.items():
        scale = float(grad.abs().max()) or 1.0
        assert float((free_grads[name] - grad).abs().max()) <= 1e-3 * scale, f"{name} gets another gradient"


def test_padding_free_run_records_it_in_the_manifest(embedded_path, run_dir, tmp_path):
    out = tmp_path / "ck"
    assert main(["finetune", "--data", str(run_dir), "--out", str(out), "--max-steps", "2", "--batch-size", "4",
                 "--max-length", "48", "--padding-free", "--no-progress"]) == 0
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["steps"] == 2 and manifest["settings"]["padding_free"] is True
    assert manifest["attention"] == VARLEN
    assert "attn_implementation" not in (out / "config.json").read_text()  # the saved model loads with the default
    assert (out / "model.safetensors").is_file()
