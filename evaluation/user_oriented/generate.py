"""Responses of one model to the user-oriented tasks, resumable.

The output is an append-only predictions file in the upstream format plus `id` and `model`.
A rerun of the same command reads what is there (cutting a torn last line a crash left), skips
the tasks already answered and asks the model only for the rest, so an interrupted run over an
API never pays twice for the same response.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import JsonlAppender, repair_torn_tail
from selfinstruct.generation.lm.base import LanguageModel, LMRequest, SamplingParams, chunk_size_for

from .predictions import Prediction, load_predictions
from .prompts import build_prompt
from .tasks import UserTask


@dataclass
class GenerateStats:
    requested: int = 0
    written: int = 0
    skipped_done: int = 0
    failed: int = 0
    truncated: int = 0  # finish_reason "length"
    errors: list[str] = field(default_factory=list)


def done_ids(out: Path, tasks: Sequence[UserTask], model: str) -> set[str]:
    """Ids already answered in `out` by `model`; a file of another model is refused."""
    if not out.exists():
        return set()
    repair_torn_tail(out)
    done = set()
    for pred in load_predictions(out, tasks):
        if pred.model != model:
            raise InputError(f"this file holds responses of model {pred.model!r}, not {model!r}; "
                             "use another --out", file=out, field="model")
        done.add(pred.id)
    return done


def generate_predictions(
    lm: LanguageModel,
    tasks: Sequence[UserTask],
    out: str | Path,
    *,
    model: str,
    params: SamplingParams,
    chunk_size: int = 16,
    progress: Callable[[int], None] | None = None,
) -> GenerateStats:
    """Answer every task not yet in `out`, appending each chunk's responses as it completes.

    Requests go in chunks so that a long run persists its work as it goes (in one chunk for a
    batch backend, whose ledger keeps the batch across a crash); a failed request is not written
    (a rerun retries it) and is counted in the returned stats.
    """
    out = Path(out)
    stats = GenerateStats()
    done = done_ids(out, tasks, model)
    todo = [t for t in tasks if t.id not in done]
    stats.skipped_done = len(tasks) - len(todo)
    chunk_size = chunk_size_for(lm, chunk_size, len(todo))
    with JsonlAppender(out) as log:
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start:start + chunk_size]
            prompts = [build_prompt(t.instruction, t.input) for t in chunk]
            results = lm.generate([LMRequest(prompt=p, params=params) for p in prompts], progress=progress)
            stats.requested += len(chunk)
            records = []
            for task, prompt, result in zip(chunk, prompts, results):
                if not result.ok:
                    stats.failed += 1
                    stats.errors.append(f"{task.id}: {result.error}")
                    continue
                if result.finish_reason == "length":
                    stats.truncated += 1
                records.append(Prediction(id=task.id, model=model, prompt=prompt, instruction=task.instruction,
                                          input=task.input, response=result.text, target=task.output).to_json())
            log.write_many(records)
            stats.written += len(records)
    return stats
