"""`selfinstruct finetune --data SOURCE --model BASE --out CKPT`."""
from __future__ import annotations

import argparse
from pathlib import Path

from selfinstruct.generation.lm.config import EMBEDDED_MODEL
from selfinstruct.generation.lock import holding


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune", help="supervised finetuning (TRL SFT, optional LoRA) on a run, a built dataset or a Hub dataset",
        description="Finetune a causal LM on Self-Instruct data with the loss on completions only. Rerunning the "
                    "same command resumes from the newest checkpoint in --out.")
    p.add_argument("--data", required=True,
                   help="a run directory, a `selfinstruct dataset build` folder, or a Hub dataset id")
    p.add_argument("--config", default=None,
                   help="finetuning (prompt/completion, default) or messages (chat); for a Hub id its config name")
    p.add_argument("--split", default="train", help="split of a dataset folder or Hub dataset (default: train)")
    p.add_argument("--model", default=EMBEDDED_MODEL,
                   help=f"base model: {EMBEDDED_MODEL} (embedded SmolLM2-135M-Instruct, default), a folder or a Hub id")
    p.add_argument("--out", type=Path, required=True, help="checkpoint folder (rerun the same command to resume)")
    p.add_argument("--epochs", type=float, default=2.0, help="training epochs (default: 2, as in the paper)")
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimizer steps (overrides --epochs)")
    p.add_argument("--learning-rate", type=float, default=None, help="default: 2e-5, or 2e-4 with --lora")
    p.add_argument("--batch-size", type=int, default=4, help="rows per device step (default: 4)")
    p.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps (default: 1)")
    p.add_argument("--max-length", type=int, default=1024, help="truncate (or pack) to this many tokens (default: 1024)")
    p.add_argument("--packing", action="store_true", help="pack several rows into each --max-length sequence")
    p.add_argument("--padding-free", action="store_true",
                   help="keep each batch's rows but concatenate them without padding (rows attend only to "
                        "themselves: flash attention where available, else per-row sdpa)")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation and data order (default: 0)")
    p.add_argument("--warmup", type=float, default=0.0,
                   help="LR warmup: a fraction of the steps if < 1, else a number of steps (default: 0)")
    p.add_argument("--lora", action="store_true", help="train a LoRA adapter (PEFT) instead of every weight")
    p.add_argument("--lora-r", type=int, default=16, help="LoRA rank (default: 16)")
    p.add_argument("--lora-alpha", type=int, default=32, help="LoRA alpha (default: 32)")
    p.add_argument("--lora-dropout", type=float, default=0.05, help="LoRA dropout (default: 0.05)")
    p.add_argument("--merge", action="store_true", help="with --lora: save the base with the adapter merged in")
    p.add_argument("--save-steps", type=int, default=500, help="write a resumable checkpoint every N steps (default: 500)")
    p.add_argument("--logging-steps", type=int, default=10, help="log the loss every N steps (default: 10)")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep checkpoint-N/ after finishing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=holding(_finetune, kind="folder"))


def settings_from_args(args: argparse.Namespace):
    from .train import FinetuneSettings, RunOptions

    settings = FinetuneSettings(
        model=args.model, epochs=args.epochs, max_steps=args.max_steps, learning_rate=args.learning_rate,
        batch_size=args.batch_size, grad_accum=args.grad_accum, max_length=args.max_length, packing=args.packing,
        padding_free=args.padding_free, seed=args.seed, lora=args.lora, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout, merge=args.merge, warmup=args.warmup)
    options = RunOptions(save_steps=args.save_steps, logging_steps=args.logging_steps,
                         progress=not args.no_progress, keep_checkpoints=args.keep_checkpoints)
    return settings, options


def _finetune(args: argparse.Namespace) -> int:
    import importlib.util
    import sys

    from selfinstruct.generation.errors import InputError

    missing = [m for m in ("trl",) + (("peft",) if args.lora else ()) if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"needs {' and '.join(missing)}: pip install 'selfinstruct[finetune]'", field="finetune")
    from .data import load_training_data
    from .train import run_finetune, summary

    settings, options = settings_from_args(args)
    settings.validate()  # before loading anything, so a bad flag costs nothing
    data = load_training_data(args.data, config=args.config, split=args.split)
    log = lambda msg: print(msg, file=sys.stderr)
    manifest = run_finetune(data, settings, args.out, options, log=log)
    print(summary(manifest))
    return 0
