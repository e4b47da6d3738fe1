"""Finetuning throughput: training tokens per second with packed and padding-free batches
against padded ones, on the embedded SmolLM2-135M-Instruct, side by side in one process.

Run: .venv/bin/python benchmarks/finetune_bench.py [--rows N] [--batch-size 8] [--max-length 512]

Every configuration goes through the command's own code (`load_base`, `build_trainer`, the
trainer's `train()`), so this measures what `selfinstruct finetune` runs:
- padded: the default, each batch padded to its longest row;
- packed: `--packing` (TRL's best-fit-decreasing packing into --max-length sequences);
- padding-free: `--padding-free` (the padded run's batches, concatenated without padding).
Each line names the attention implementation the command chose for it: the model's own (sdpa)
for padded batches, and for the flattened ones flash attention where available, else
`varlen.VARLEN`.

The rows are the paper-style prompt/completion encoding of the seed tasks' instances
(seeds/seed_tasks.jsonl, with the generator's own encoder and a fixed seed), whose lengths vary
enough for padding to matter. Each configuration trains one epoch over the same rows from the
same initial weights with the same seed, so each feeds the model the same real (non-padding)
tokens; a collator wrapper counts them, and the padding fed alongside them, per batch. Before the
timed epoch each configuration warms up for one step of the shortest rows on a separate trainer
(first-call kernel and allocator costs), after which the initial weights are restored. The clock runs from the start
of `train()` to the end of its last step, so the final checkpoint write is left out; tokenization
and packing happen while the trainer is built and are reported apart.

Padded and padding-free see the same batches, so their mean training losses must agree: a
mismatch would mean the flattened rows attend to each other. Packed batches hold other rows per
step, so its loss differs by design.

Ends with one `target ...` line per target of the issue (exit 0 either way).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds" / "seed_tasks.jsonl"
MODES = {"padded": {}, "packed": {"packing": True}, "padding-free": {"padding_free": True}}
TARGET = 1.5


def seed_rows(limit: int) -> list[dict]:
    """Prompt/completion rows from the seed instances, as `generate finetune` would encode them."""
    from selfinstruct.generation.pipeline.finetune import prompt_completion_records
    from selfinstruct.generation.records import TrainingInstance

    instances = []
    for line in SEEDS.read_text("utf-8").splitlines():
        if line.strip():
            task = json.loads(line)
            instances += [TrainingInstance(f"{task['id']}-{k}", task["instruction"], inst["input"], inst["output"])
                          for k, inst in enumerate(task["instances"])]
    rows = prompt_completion_records(instances, random.Random(0))
    return rows[:limit]


def write_run_dir(root: Path, rows: list[dict]) -> Path:
    from selfinstruct.evaluation.finetune.data import RUN_FILES

    path = root / RUN_FILES["finetuning"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return root


class Counting:
    """Wraps the trainer's collator to record, per batch, the real tokens and all tokens fed."""

    def __init__(self, collate):
        self.collate, self.real, self.fed = collate, [], []

    def __call__(self, examples):
        batch = self.collate(examples)
        ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        self.real.append(int(mask.sum()) if mask is not None else ids.numel())
        self.fed.append(ids.numel())
        return batch


def step_clock():
    """A callback timing train() from its start to the end of its last optimizer step, leaving out
    the checkpoint the trainer writes after the last step (a fixed cost, not throughput)."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        start = end = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.end = time.perf_counter()

    return Clock()


def run_mode(name: str, model, tokenizer, data, warm_data, initial: dict, args, tmp: Path) -> dict:
    from selfinstruct.evaluation.finetune.train import FinetuneSettings, RunOptions, build_trainer

    settings = FinetuneSettings(epochs=1.0, batch_size=args.batch_size, max_length=args.max_length, seed=0,
                                **MODES[name])
    options = RunOptions(save_steps=10**9, logging_steps=10**9, progress=False)
    warm = build_trainer(model, tokenizer, warm_data, replace(settings, max_steps=1),
                         tmp / f"{name}-warm", options)
    warm.train()
    model.load_state_dict(initial)
    t0 = time.perf_counter()
    clock = step_clock()
    trainer = build_trainer(model, tokenizer, data, settings, tmp / name, options, callbacks=[clock])
    attention = model.config._attn_implementation  # build_trainer picks it per configuration
    prep = time.perf_counter() - t0
    counter = Counting(trainer.data_collator)
    trainer.data_collator = counter
    result = trainer.train()
    wall = clock.end - clock.start
    model.load_state_dict(initial)
    real, fed = sum(counter.real), sum(counter.fed)
    out = {"name": name, "steps": int(trainer.state.global_step), "real": real, "fed": fed, "wall": wall,
           "prep": prep, "tokens_per_s": real / wall, "loss": float(result.training_loss), "attention": attention}
    print(f"  {name} ({attention} attention): {out['steps']} steps, {real} real tokens ({fed - real} padding fed, "
          f"{100.0 * (fed - real) / fed:.1f}%), train {wall:.1f}s, {out['tokens_per_s']:.1f} tokens/s, "
          f"mean loss {out['loss']:.4f} (tokenize/pack {prep:.1f}s)", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=16, help="seed-instance rows trained on per configuration")
    ap.add_argument("--batch-size", type=int, default=8, help="rows (or packed sequences) per step")
    ap.add_argument("--max-length", type=int, default=512, help="truncation / packing length in tokens")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    import datasets

    datasets.disable_progress_bars()
    from selfinstruct.evaluation.finetune.data import load_training_data
    from selfinstruct.evaluation.finetune.train import load_base

    model, tokenizer, _ = load_base("smollm2")
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rows = seed_rows(args.rows)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        data = load_training_data(write_run_dir(tmp / "run", rows))
        size = {id(r): len(tokenizer(r["prompt"] + r["completion"]).input_ids) for r in rows}
        lengths = sorted(size.values())
        # the shortest rows: the warm-up pays the first-call costs, not a full step's compute
        warm_data = load_training_data(write_run_dir(tmp / "warm", sorted(rows, key=lambda r: size[id(r)])[:args.batch_size]))
        print(f"finetune throughput: {data.rows} rows (tokens per row {lengths[0]}-{lengths[-1]}, median "
              f"{lengths[len(lengths) // 2]}), batch size {args.batch_size}, max length {args.max_length}, "
              f"fp32, torch threads {torch.get_num_threads()}",
              flush=True)
        results = {name: run_mode(name, model, tokenizer, data, warm_data, initial, args, tmp) for name in MODES}
    base = results["padded"]
    for name in ("packed", "padding-free"):
        r = results[name]
        same = "same" if r["real"] == base["real"] else f"DIFFERENT ({r['real']} vs {base['real']})"
        print(f"{name} vs padded: {r['tokens_per_s'] / base['tokens_per_s']:.2f}x tokens/s ({same} real tokens)")
    gap = abs(results["padding-free"]["loss"] - base["loss"])
    print(f"padding-free vs padded mean loss: {gap:.2e} apart "
          f"({'agree' if gap <= 1e-3 * max(1.0, base['loss']) else 'MISMATCH: rows attend across boundaries?'})")
    best = max(("packed", "padding-free"), key=lambda n: results[n]["tokens_per_s"])
    ratio = results[best]["tokens_per_s"] / base["tokens_per_s"]
    print(f"faster of the two: {best}")
    print(f"target packed_vs_padded_tokens_per_s: {ratio:.2f}x vs >={TARGET}x {'PASS' if ratio >= TARGET else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
