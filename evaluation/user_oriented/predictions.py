"""Model responses to the user-oriented tasks, in the upstream predictions format.

Upstream released one file per model (`<model>_predictions.jsonl`) with `prompt`, `instruction`,
`input`, `response` and `target`, one line per task in file order, and no ids. Our files add
`id` and `model`. Both are read by one loader that ties every line to a task: by its id when it
has one (and checks the instruction agrees, which catches ids from another version of the set),
otherwise by its position or, failing that, by its instruction and input. Anything that cannot
be tied to exactly one task is an error, never a silent skip.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import iter_jsonl

from .prompts import build_prompt
from .tasks import UserTask, normalize_text

PREDICTIONS_SUFFIX = "_predictions"


@dataclass(frozen=True)
class Prediction:
    id: str
    model: str
    prompt: str
    instruction: str
    input: str
    response: str
    target: str

    def to_json(self) -> dict:
        # Upstream field order first, our additions after.
        return {"prompt": self.prompt, "instruction": self.instruction, "input": self.input,
                "response": self.response, "target": self.target, "id": self.id, "model": self.model}


def model_name_from_path(path: str | Path) -> str:
    """`text-davinci-003_predictions.jsonl` -> `text-davinci-003`."""
    stem = Path(path).name
    for suffix in (".jsonl", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    if stem.endswith(PREDICTIONS_SUFFIX) and len(stem) > len(PREDICTIONS_SUFFIX):
        stem = stem[: -len(PREDICTIONS_SUFFIX)]
    return stem


def _task_key(instruction: str, input_text: str) -> tuple[str, str]:
    return normalize_text(instruction), normalize_text(input_text)


def _str_field(obj: dict, key: str, path: Path, line: int, *, required: bool = True) -> str | None:
    if key not in obj or obj[key] is None:
        if required:
            raise InputError("missing field", file=path, line=line, field=key)
        return None
    if not isinstance(obj[key], str):
        raise InputError(f"expected str, got {type(obj[key]).__name__}", file=path, line=line, field=key)
    return obj[key]


def load_predictions(path: str | Path, tasks: Sequence[UserTask], *, allow_torn_tail: bool = False) -> list[Prediction]:
    """Read one predictions file (ours or upstream's) and tie each line to a task."""
    path = Path(path)
    by_id = {t.id: t for t in tasks}
    by_key = {_task_key(t.instruction, t.input): t for t in tasks}
    default_model = model_name_from_path(path)
    seen: dict[tuple[str, str], int] = {}
    out: list[Prediction] = []
    for index, (line, obj) in enumerate(iter_jsonl(path, allow_torn_tail=allow_torn_tail)):
        if not isinstance(obj, dict):
            raise InputError("expected a JSON object", file=path, line=line)
        instruction = _str_field(obj, "instruction", path, line)
        input_text = _str_field(obj, "input", path, line)
        response = _str_field(obj, "response", path, line)
        model = _str_field(obj, "model", path, line, required=False) or default_model
        task_id = _str_field(obj, "id", path, line, required=False)
        if task_id is not None:
            task = by_id.get(task_id)
            if task is None:
                raise InputError(f"unknown task id {task_id!r} (not one of the {len(tasks)} user-oriented tasks)",
                                 file=path, line=line, field="id")
            if _task_key(instruction, input_text) != _task_key(task.instruction, task.input):
                raise InputError(f"instruction/input do not match task {task_id!r}", file=path, line=line,
                                 field="instruction")
        else:
            key = _task_key(instruction, input_text)
            positional = tasks[index] if index < len(tasks) else None
            if positional is not None and _task_key(positional.instruction, positional.input) == key:
                task = positional
            else:
                task = by_key.get(key)
            if task is None:
                raise InputError("no user-oriented task has this instruction and input", file=path, line=line,
                                 field="instruction")
        if (model, task.id) in seen:
            raise InputError(f"duplicate prediction for task {task.id!r} of model {model!r} "
                             f"(first on line {seen[(model, task.id)]})", file=path, line=line, field="id")
        seen[(model, task.id)] = line
        prompt = _str_field(obj, "prompt", path, line, required=False)
        target = _str_field(obj, "target", path, line, required=False)
        out.append(Prediction(
            id=task.id, model=model,
            prompt=prompt if prompt is not None else build_prompt(task.instruction, task.input),
            instruction=instruction, input=input_text, response=response,
            target=target if target is not None else task.output,
        ))
    return out


def load_many(paths: Sequence[str | Path], tasks: Sequence[UserTask]) -> list[Prediction]:
    """Several files; the same (model, task) twice across files is an error too."""
    merged: list[Prediction] = []
    owner: dict[tuple[str, str], Path] = {}
    for p in paths:
        for pred in load_predictions(p, tasks):
            key = (pred.model, pred.id)
            if key in owner:
                raise InputError(f"task {pred.id!r} of model {pred.model!r} is already in {owner[key]}",
                                 file=p, field="id")
            owner[key] = Path(p)
            merged.append(pred)
    if not merged:
        raise InputError("no predictions found", file=", ".join(str(p) for p in paths))
    return merged
