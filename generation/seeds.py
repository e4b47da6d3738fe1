"""Seed tasks: the typed record and the loader/writer for the upstream JSONL schema.

The loader is strict because a seed file is the root of everything a run produces: a silent
duplicate or a mistyped field would bias thousands of generated instructions. Every problem is
reported as one `InputError` naming file, line and field.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from .errors import InputError
from .limits import check_field, check_instruction
from .jsonl import iter_jsonl, write_jsonl

DEFAULT_SEED_FILE = "seed_tasks.jsonl"


@dataclass(frozen=True)
class Instance:
    input: str
    output: str


@dataclass(frozen=True)
class SeedTask:
    id: str
    name: str
    instruction: str
    instances: tuple[Instance, ...]
    is_classification: bool

    def to_json(self) -> dict:
        record = asdict(self)
        record["instances"] = [asdict(i) for i in self.instances]
        return record


_FIELDS: dict[str, type] = {
    "id": str,
    "name": str,
    "instruction": str,
    "instances": list,
    "is_classification": bool,
}


def default_seed_path() -> Path:
    """The project's own 175 seed tasks, shipped inside the wheel."""
    return Path(str(resources.files("selfinstruct.seeds").joinpath(DEFAULT_SEED_FILE)))


def _parse_record(obj: object, path: Path, line: int) -> SeedTask:
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object", file=path, line=line)
    if "motivation_app" in obj or str(obj.get("id", "")).startswith("user_oriented_task"):
        raise InputError(
            "this is the user-oriented evaluation set; it must never be used as seed data",
            file=path, line=line, field="id",
        )
    for name, kind in _FIELDS.items():
        if name not in obj:
            raise InputError("missing field", file=path, line=line, field=name)
        value = obj[name]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise InputError(
                f"expected {kind.__name__}, got {type(value).__name__}", file=path, line=line, field=name
            )
    for name in ("id", "instruction"):
        if not obj[name].strip():
            raise InputError("must not be empty", file=path, line=line, field=name)
    check_instruction(obj["instruction"], file=path, line=line)
    if not obj["instances"]:
        raise InputError("needs at least one instance", file=path, line=line, field="instances")
    instances = []
    for k, inst in enumerate(obj["instances"]):
        where = f"instances[{k}]"
        if not isinstance(inst, dict):
            raise InputError("expected an object with input and output", file=path, line=line, field=where)
        for key in ("input", "output"):
            if key not in inst:
                raise InputError("missing field", file=path, line=line, field=f"{where}.{key}")
            if not isinstance(inst[key], str):
                raise InputError(
                    f"expected str, got {type(inst[key]).__name__}", file=path, line=line, field=f"{where}.{key}"
                )
            check_field(inst[key], file=path, line=line, field=f"{where}.{key}")
        instances.append(Instance(inst["input"], inst["output"]))
    return SeedTask(
        id=obj["id"],
        name=obj["name"],
        instruction=obj["instruction"],
        instances=tuple(instances),
        is_classification=obj["is_classification"],
    )


def load_seed_tasks(path: str | Path | None = None) -> list[SeedTask]:
    """Load and validate a seed file; `None` means the packaged default set."""
    path = Path(path) if path is not None else default_seed_path()
    if not path.is_file():
        raise InputError("seed file not found", file=path)
    tasks: list[SeedTask] = []
    seen_ids: dict[str, int] = {}
    seen_instructions: dict[str, int] = {}
    for line_no, obj in iter_jsonl(path):
        task = _parse_record(obj, path, line_no)
        if task.id in seen_ids:
            raise InputError(
                f"duplicate id {task.id!r} (first on line {seen_ids[task.id]})", file=path, line=line_no, field="id"
            )
        key = " ".join(task.instruction.split()).lower()
        if key in seen_instructions:
            raise InputError(
                f"duplicate instruction (first on line {seen_instructions[key]})",
                file=path, line=line_no, field="instruction",
            )
        seen_ids[task.id] = line_no
        seen_instructions[key] = line_no
        tasks.append(task)
    if not tasks:
        raise InputError("seed file is empty", file=path)
    return tasks


def write_seed_tasks(path: str | Path, tasks: Iterable[SeedTask]) -> int:
    return write_jsonl(path, (t.to_json() for t in tasks))
