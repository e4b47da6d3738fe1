"""Where finetuning rows come from, reduced to the one shape the trainer is given.

Three sources hold the same data at different stages of its life: a run directory (what
`selfinstruct generate` wrote), a built dataset folder (what `selfinstruct dataset build` wrote,
Parquet per config) and a Hub dataset (what `dataset publish` pushed, or anyone else's). All
three end as prompt/completion rows, because that is the form in which TRL computes the loss on
the completion alone for any tokenizer:

- `finetuning` rows are already prompt/completion text (the paper's GPT-3 format). Their
  completions end in GPT-3's `<|endoftext|>` stop marker; it is stripped so TRL appends the base
  model's own EOS token instead, which is the token generation actually stops on.
- `messages` rows become a conversational prompt (every turn before the last) and completion
  (the last, assistant, turn). TRL then renders both with the model's chat template and masks
  the prompt by token prefix, which works with any template. The alternative, TRL's
  `assistant_only_loss`, needs `{% generation %}` markers that SmolLM2's template lacks; the cost
  of the conversion is that in a multi-turn conversation only the final assistant turn is
  trained on (Self-Instruct's rows have exactly one turn each, so nothing is lost here).

The data hash goes into the checkpoint manifest and decides whether a rerun resumes (same data)
or is refused (different data in the same --out).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import iter_jsonl

CONFIGS = ("finetuning", "messages")
#: The run-directory file each config reads (docs/run-directory.md).
RUN_FILES = {"finetuning": "finetuning/finetuning_prompt_completion.jsonl",
             "messages": "finetuning/finetuning_messages.jsonl"}
#: Folders written by the original scripts name their prompt/completion file by date.
UPSTREAM_RUN_GLOB = "finetuning/gpt3_finetuning_data_*.jsonl"
GPT3_STOP = "<|endoftext|>"


@dataclass
class TrainingData:
    """Rows ready for the trainer plus what the manifest records about where they came from."""

    dataset: Any  # datasets.Dataset with columns prompt, completion
    source: str
    kind: str  # run_dir | folder | hub
    config: str
    split: str
    sha256: str
    conversational: bool
    files: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.dataset)

    def describe(self) -> dict:
        return {"source": self.source, "kind": self.kind, "config": self.config, "split": self.split,
                "sha256": self.sha256, "rows": self.rows, "conversational": self.conversational,
                "files": self.files}


def load_training_data(source: str | Path, *, config: str | None = None, split: str = "train") -> TrainingData:
    """Any SOURCE the command accepts -> prompt/completion rows; user mistakes -> InputError."""
    text = str(source)
    path = Path(text).expanduser()
    if path.is_dir():
        # A built folder holds CONFIG/*.parquet and a run directory never does; both may have a
        # `finetuning/` folder, so Parquet is what tells them apart.
        if any(path.glob("*/*.parquet")):
            return _from_folder(path, config or "finetuning", split)
        return _from_run_dir(path, config or "finetuning")
    if path.is_file():
        raise InputError("expected a run directory, a built dataset folder or a Hub dataset id, not a file",
                         file=path, field="--data")
    if text.startswith(("/", "./", "../", "~")) or text.count("/") > 1:
        raise InputError("no such run directory or dataset folder", file=text, field="--data")
    return _from_hub(text, config, split)


def _check_config(config: str) -> None:
    if config not in CONFIGS:
        raise InputError(f"unknown config {config!r} for a local source; choose one of: {', '.join(CONFIGS)}",
                         field="--config")


def _from_run_dir(run_dir: Path, config: str) -> TrainingData:
    _check_config(config)
    path = run_dir / RUN_FILES[config]
    if not path.is_file() and config == "finetuning":
        upstream = sorted(run_dir.glob(UPSTREAM_RUN_GLOB))
        path = upstream[-1] if upstream else path
    if not path.is_file():
        raise InputError(f"the run directory has no {RUN_FILES[config]} (run `selfinstruct generate finetune "
                         f"--out {run_dir}` first)", file=path, field="--data")
    rows = [_check_row(rec, path, line) for line, rec in iter_jsonl(path)]
    return _finish(rows, source=str(run_dir), kind="run_dir", config=config, split="train",
                   sha256=_sha256_files([path]), files=[str(path)], where=path)


def _from_folder(folder: Path, config: str, split: str) -> TrainingData:
    _check_config(config)
    files = sorted((folder / config).glob(f"{split}-*.parquet"))
    if not files:
        have = sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.parquet")))
        raise InputError(f"no {config}/{split}-*.parquet in this folder (configs with Parquet here: "
                         f"{', '.join(have) or 'none'}); expected a run directory or a `selfinstruct dataset build` "
                         "folder", file=folder, field="--data")
    import pyarrow.parquet as pq

    # Read with pyarrow, not `datasets`: no copy into the Hugging Face cache for a local folder.
    rows = [_check_row(rec, f, i + 1) for f in files for i, rec in enumerate(pq.read_table(f).to_pylist())]
    return _finish(rows, source=str(folder), kind="folder", config=config, split=split,
                   sha256=_sha256_files(files), files=[str(f) for f in files], where=files[0])


def _from_hub(repo_id: str, config: str | None, split: str) -> TrainingData:
    import datasets

    try:
        ds = datasets.load_dataset(repo_id, config, split=split)
    except Exception as exc:  # noqa: BLE001 - offline, unknown repo, unknown config or split: all the user's to fix
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise InputError(f"cannot load Hub dataset {repo_id!r} (config {config!r}, split {split!r}): {first}",
                         field="--data") from None
    rows = [_check_row(rec, repo_id, i + 1) for i, rec in enumerate(ds)]
    return _finish(rows, source=repo_id, kind="hub", config=config or "default", split=split,
                   sha256="fingerprint:" + str(getattr(ds, "_fingerprint", "")), where=repo_id)


def _check_row(rec: Any, where: Any, line: int) -> dict:
    """One row in either accepted shape -> {prompt, completion}; anything else names the row."""
    if not isinstance(rec, dict):
        raise InputError("expected a JSON object", file=where, line=line)
    if "prompt" in rec and "completion" in rec:
        prompt, completion = rec["prompt"], rec["completion"]
        if isinstance(prompt, str) and isinstance(completion, str):
            completion = completion.removesuffix(GPT3_STOP)
            if not completion.strip():
                raise InputError("empty completion: nothing to train on", file=where, line=line, field="completion")
            return {"prompt": prompt, "completion": completion}
        if _is_turns(prompt) and _is_turns(completion):
            return {"prompt": list(prompt), "completion": list(completion)}
        raise InputError("prompt and completion must both be strings or both lists of {role, content}",
                         file=where, line=line, field="prompt")
    if "messages" in rec:
        turns = rec["messages"]
        if not _is_turns(turns) or len(turns) < 2:
            raise InputError("expected a list of at least two {role, content} turns", file=where, line=line,
                             field="messages")
        if turns[-1]["role"] != "assistant":
            raise InputError(f"the last turn is {turns[-1]['role']!r}; it must be the assistant's answer to train on",
                             file=where, line=line, field="messages")
        clean = [{"role": t["role"], "content": t["content"]} for t in turns]
        return {"prompt": clean[:-1], "completion": clean[-1:]}
    raise InputError(f"a row needs prompt and completion, or messages; it has: {', '.join(sorted(rec)) or 'nothing'}",
                     file=where, line=line, field="--config")


def _is_turns(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(t, dict) and isinstance(t.get("role"), str) and isinstance(t.get("content"), str) for t in value)


def _finish(rows: list[dict], *, where: Any, **info: Any) -> TrainingData:
    if not rows:
        raise InputError("no rows to train on", file=where, field="--data")
    kinds = {isinstance(r["prompt"], list) for r in rows}
    if len(kinds) > 1:
        raise InputError("rows mix plain-text and chat-message prompts; use one config", file=where, field="--config")
    import datasets

    return TrainingData(dataset=datasets.Dataset.from_list(rows), conversational=kinds.pop(), **info)


def _sha256_files(paths: list[Path]) -> str:
    """One digest over the files' bytes in order, so resharding the same rows is still detected
    as a change only when the bytes change."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
