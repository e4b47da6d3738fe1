"""Supervised finetuning with TRL's SFTTrainer, resumable, with a manifest of what was trained.

The output folder is both the finished checkpoint and the resume state: `checkpoint-N/` folders
(model, optimizer, scheduler, RNG states, trainer state) appear every --save-steps, and the same
command run again continues from the newest complete one, ending with the weights an
uninterrupted run would have had. The settings of the first start are written to
`finetune_settings.json`; a rerun with different data or hyperparameters into the same folder
is refused rather than silently mixing two runs. `finetune_manifest.json` is written last, after
the final weights, so its presence means the folder holds a finished model.

The final folder is a plain transformers checkpoint (safetensors, config, tokenizer and chat
template), so `--model CKPT` works with every other command. The embedded model's weights come
from a GGUF that transformers dequantizes; we train and save the dequantized float weights, so
the finetuned model is not re-quantized.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import write_json
from selfinstruct.generation.lm.config import EMBEDDED_MODEL
from selfinstruct.generation.provenance import software_versions

from .data import TrainingData

SETTINGS_FILE = "finetune_settings.json"
MANIFEST_FILE = "finetune_manifest.json"
CHECKPOINT_PREFIX = "checkpoint-"
#: TRL's own defaults for the two regimes: full finetuning moves every weight, so it takes a
#: small step; a LoRA adapter starts at zero and needs a larger one to move at all.
DEFAULT_LR_FULL = 2e-5
DEFAULT_LR_LORA = 2e-4


@dataclass
class FinetuneSettings:
    """Everything that changes the trained weights (and so must match for a resume)."""

    model: str = EMBEDDED_MODEL
    epochs: float = 2.0  # the paper finetuned GPT-3 for 2 epochs
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float | None = None  # None: DEFAULT_LR_FULL or DEFAULT_LR_LORA
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 1024
    packing: bool = False
    padding_free: bool = False
    seed: int = 0
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    merge: bool = False
    warmup: float = 0.0  # < 1: a fraction of the steps; >= 1: a number of steps

    def effective_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LR_LORA if self.lora else DEFAULT_LR_FULL

    def validate(self) -> None:
        checks = [(self.epochs > 0 or self.max_steps > 0, "--epochs", "must be > 0 (or give --max-steps)"),
                  (self.batch_size >= 1, "--batch-size", "must be >= 1"),
                  (self.grad_accum >= 1, "--grad-accum", "must be >= 1"),
                  (self.max_length >= 8, "--max-length", "must be >= 8 tokens"),
                  (self.effective_learning_rate() > 0, "--learning-rate", "must be > 0"),
                  (not self.merge or self.lora, "--merge", "only applies with --lora"),
                  (not (self.padding_free and self.packing), "--padding-free",
                   "--packing already trains without padding; give one of the two"),
                  (self.lora_r >= 1, "--lora-r", "must be >= 1"),
                  (self.warmup >= 0, "--warmup", "must be >= 0")]
        for ok, flag, message in checks:
            if not ok:
                raise InputError(message, field=flag)


@dataclass
class RunOptions:
    """What does not change the weights: where and how often to save, how to report."""

    save_steps: int = 500
    logging_steps: int = 10
    progress: bool = True
    keep_checkpoints: bool = False


def resolve_model(name: str) -> tuple[str, bool]:
    """(path or Hub id to load, local files only). The embedded name converts its GGUF once into
    the project cache (the same conversion every other command uses) and trains on that copy."""
    if name == EMBEDDED_MODEL:
        from selfinstruct.generation.lm.embedded import embedded_checkpoint

        return embedded_checkpoint()
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not ((path / "config.json").is_file() or (path / "adapter_config.json").is_file()):
            raise InputError("not a transformers checkpoint folder (no config.json)", file=path, field="--model")
        return str(path), True
    if name.startswith(("/", "./", "../", "~")) or name.count("/") > 1:
        raise InputError("no such model folder", file=name, field="--model")
    return name, False


def _device_and_precision() -> tuple[str, bool]:
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.cuda.is_bf16_supported()
    return "cpu", False


def load_base(name: str):
    """(model, tokenizer, resolved path). Loading failures are the user's model name or folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    resolved, local = resolve_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved, local_files_only=local)
        # fp32 master weights everywhere; on CUDA the trainer runs bf16 autocast over them.
        model = AutoModelForCausalLM.from_pretrained(resolved, local_files_only=local, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise InputError(f"cannot load model {name!r}: {first}", field="--model") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, resolved


def last_complete_checkpoint(out: Path) -> Path | None:
    """The newest checkpoint whose trainer state was written (it is saved last), so a folder torn
    by a kill during saving is passed over instead of crashing the resume."""
    found = []
    for p in out.glob(f"{CHECKPOINT_PREFIX}*"):
        step = p.name[len(CHECKPOINT_PREFIX):]
        state = p / "trainer_state.json"
        if not (p.is_dir() and step.isdigit() and state.is_file()):
            continue
        try:
            json.loads(state.read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        found.append((int(step), p))
    return max(found)[1] if found else None


def _hashed_settings(settings: FinetuneSettings, data: TrainingData, resolved: str) -> dict:
    # The embedded model's converted folder is named by its GGUF's hash: that name, not the cache
    # path, identifies the base, so moving $SELFINSTRUCT_CACHE does not block a resume.
    base = Path(resolved).name if settings.model == EMBEDDED_MODEL else resolved
    return {"settings": asdict(settings), "data_sha256": data.sha256, "data_config": data.config,
            "data_split": data.split, "base_model": settings.model, "base_resolved": base}


def _claim_output(out: Path, hashed: dict) -> bool:
    """Write (or check) the folder's settings. True when a finished run with these settings is
    already there."""
    path = out / SETTINGS_FILE
    if path.is_file():
        try:
            previous = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError:
            raise InputError("settings file is not valid JSON; delete the folder to start over", file=path) from None
        if isinstance(previous, dict) and isinstance(previous.get("settings"), dict):
            # a setting added in a later version counts as its default, so older folders still resume
            previous["settings"] = {**asdict(FinetuneSettings()), **previous["settings"]}
        if previous != hashed:
            changed = sorted(k for k in set(previous) | set(hashed) if previous.get(k) != hashed.get(k))
            if "settings" in changed:
                a, b = previous.get("settings", {}), hashed["settings"]
                changed = [k for k in changed if k != "settings"] + sorted(k for k in b if a.get(k) != b[k])
            raise InputError(f"this folder holds a finetuning run with other settings ({', '.join(changed)} differ); "
                             "rerun with the same flags to resume it, or choose another --out", file=out, field="--out")
        return (out / MANIFEST_FILE).is_file()
    if out.exists() and any(out.iterdir()):
        raise InputError("output folder is not empty and holds no finetuning run; choose another --out",
                         file=out, field="--out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, hashed)
    return False


def build_trainer(model, tokenizer, data: TrainingData, settings: FinetuneSettings, out: Path, options: RunOptions,
                  *, callbacks: list | None = None):
    """The SFTTrainer for these settings, with the loss on completion tokens only.

    Packing (TRL's best-fit-decreasing strategy) and padding-free both hand the model one
    flattened sequence per step with no attention mask, only position ids that restart at each
    row. Flash attention's varlen kernels separate the rows by those; elsewhere transformers would
    turn them into a dense block-diagonal mask over the whole step, which costs more than the
    padding saved, so these runs switch the model to `varlen.VARLEN`, one causal sdpa call per row
    (tests/finetune checks the logits against each row run alone). Padding-free keeps the batches
    a padded run would have, so a step sees the same rows; packing refills every step to
    --max-length, so it changes how many rows a step and an epoch's steps hold.
    """
    from trl import SFTConfig, SFTTrainer

    from .varlen import choose_attention

    device, bf16 = _device_and_precision()
    choose_attention(model, settings.packing or settings.padding_free, device=device, bf16=bf16)
    config = SFTConfig(
        output_dir=str(out),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps if settings.max_steps > 0 else -1,
        learning_rate=settings.effective_learning_rate(),
        warmup_steps=int(settings.warmup) if settings.warmup >= 1 else settings.warmup,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        max_length=settings.max_length,
        packing=settings.packing,
        completion_only_loss=True,
        seed=settings.seed,
        data_seed=settings.seed,
        bf16=bf16,
        use_cpu=device == "cpu",
        save_strategy="steps",
        save_steps=options.save_steps,
        save_total_limit=1,  # resuming needs only the newest; each full checkpoint is ~3x the model
        logging_steps=options.logging_steps,
        report_to="none",
        disable_tqdm=not options.progress,
        dataloader_num_workers=0,
    )
    collator = None
    if settings.padding_free:
        # Asked of the collator alone: TRL's own padding_free flag without packing refuses a
        # max_length, because it then skips truncation; this way the rows are truncated as usual.
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        collator = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)
    peft_config = None
    if settings.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    return SFTTrainer(model=model, args=config, train_dataset=data.dataset, processing_class=tokenizer,
                      data_collator=collator, peft_config=peft_config, callbacks=callbacks)


def _save_final(trainer, tokenizer, settings: FinetuneSettings, out: Path) -> str:
    """Write the finished model into `out`; returns what was written (full, merged, adapter)."""
    if settings.lora and settings.merge:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
        return "merged"
    trainer.save_model(str(out))  # weights (or the LoRA adapter) plus the tokenizer and chat template
    tokenizer.save_pretrained(str(out))
    return "adapter" if settings.lora else "full"


def _final_loss(log_history: list[dict]) -> float | None:
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return float(losses[-1]) if losses else None


def run_finetune(data: TrainingData, settings: FinetuneSettings, out: Path, options: RunOptions | None = None,
                 *, callbacks: list | None = None, log=print) -> dict:
    """Train (or resume, or report an already finished run) and return the manifest."""
    options = options or RunOptions()
    settings.validate()
    if options.save_steps < 1:
        raise InputError("must be >= 1", field="--save-steps")
    t0 = time.perf_counter()
    model, tokenizer, resolved = load_base(settings.model)
    out = Path(out)
    hashed = _hashed_settings(settings, data, resolved)
    if _claim_output(out, hashed):
        manifest = json.loads((out / MANIFEST_FILE).read_text("utf-8"))
        log(f"already finished: {out} ({manifest.get('steps')} steps); nothing to do")
        return manifest
    resume = last_complete_checkpoint(out)
    import torch

    torch.manual_seed(settings.seed)  # LoRA's initial adapter weights are drawn before the trainer seeds
    trainer = build_trainer(model, tokenizer, data, settings, out, options, callbacks=callbacks)
    if resume is not None:
        log(f"resuming from {resume.name}")
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    written = _save_final(trainer, tokenizer, settings, out)
    device, bf16 = _device_and_precision()
    manifest = {
        "base_model": {"name": settings.model, "resolved": resolved},
        "data": data.describe(),
        "settings": {**asdict(settings), "learning_rate": settings.effective_learning_rate(),
                     "save_steps": options.save_steps, "completion_only_loss": True},
        "device": device, "precision": "bf16" if bf16 else "fp32",
        "attention": model.config._attn_implementation,
        "rows": data.rows,
        "steps": int(trainer.state.global_step),
        "epochs_done": float(trainer.state.epoch or 0.0),
        "final_loss": _final_loss(trainer.state.log_history),
        "mean_train_loss": float(result.training_loss),
        "resumed_from": resume.name if resume else None,
        "wall_seconds": round(time.perf_counter() - t0, 2),
        "saved": written,
        "versions": software_versions("torch", "transformers", "trl", "peft", "datasets", "accelerate"),
    }
    write_json(out / MANIFEST_FILE, manifest)
    if not options.keep_checkpoints:
        for p in out.glob(f"{CHECKPOINT_PREFIX}*"):
            shutil.rmtree(p, ignore_errors=True)
    return manifest


def summary(manifest: dict[str, Any]) -> str:
    loss = manifest.get("final_loss")
    loss_text = f"{loss:.4f}" if isinstance(loss, float) else "n/a"
    return (f"finetuned {manifest['base_model']['name']} on {manifest['rows']} rows: {manifest['steps']} steps, "
            f"final loss {loss_text}, {manifest['wall_seconds']}s ({manifest['saved']} weights)")
