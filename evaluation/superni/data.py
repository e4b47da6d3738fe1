"""SuperNI task files as plain data, with schema checks that name the file and field at fault.

The evaluation set is the first 100 `Instances` of each task in `splits/default/test_tasks.txt`
(upstream moved a label-balanced choice of 100 to the front of every list), so loading never
samples: it slices. A task's evaluation category is `Categories[0]`.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.generation.errors import InputError

DEFAULT_MAX_INSTANCES = 100
TEST_SPLIT = Path("splits") / "default" / "test_tasks.txt"
TASKS_DIR = Path("tasks")


@dataclass(frozen=True)
class Example:
    input: str
    output: str


@dataclass(frozen=True)
class Instance:
    id: str
    input: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class Task:
    name: str
    definition: str
    category: str
    positive_examples: tuple[Example, ...]
    instances: tuple[Instance, ...]


def category_key(category: str) -> str:
    """The breakdown key Tk-Instruct uses: lowercased, spaces to underscores."""
    return category.strip().lower().replace(" ", "_")


def _need(cond: bool, message: str, file: Path, field: str) -> None:
    if not cond:
        raise InputError(message, file=file, field=field)


def _str_list(value: Any, file: Path, field: str, *, non_empty: bool = True) -> list[str]:
    _need(isinstance(value, list), "must be a list of strings", file, field)
    _need(not non_empty or len(value) > 0, "must not be empty", file, field)
    for i, item in enumerate(value):
        _need(isinstance(item, str), "must be a string", file, f"{field}[{i}]")
    return value


def parse_task(obj: Any, name: str, file: Path, *, max_instances: int | None = DEFAULT_MAX_INSTANCES) -> Task:
    """Validate one decoded task file and keep what evaluation needs.

    Every instance in the file is checked (not just the first `max_instances`) so a cached copy
    that verifies is known to be whole.
    """
    _need(isinstance(obj, dict), "a task file must hold a JSON object", file, "<root>")
    definition = _str_list(obj.get("Definition"), file, "Definition")
    categories = _str_list(obj.get("Categories"), file, "Categories")
    positives = obj.get("Positive Examples")
    _need(isinstance(positives, list), "must be a list of {input, output}", file, "Positive Examples")
    examples = []
    for i, ex in enumerate(positives):
        where = f"Positive Examples[{i}]"
        _need(isinstance(ex, dict), "must be an object", file, where)
        for key in ("input", "output"):
            _need(isinstance(ex.get(key), str), "must be a string", file, f"{where}.{key}")
        examples.append(Example(ex["input"], ex["output"]))
    raw_instances = obj.get("Instances")
    _need(isinstance(raw_instances, list) and len(raw_instances) > 0, "must be a non-empty list", file, "Instances")
    instances = []
    seen: set[str] = set()
    for i, inst in enumerate(raw_instances):
        where = f"Instances[{i}]"
        _need(isinstance(inst, dict), "must be an object", file, where)
        _need(isinstance(inst.get("id"), str) and inst["id"] != "", "must be a non-empty string", file, f"{where}.id")
        _need(inst["id"] not in seen, f"duplicate instance id {inst['id']!r}", file, f"{where}.id")
        seen.add(inst["id"])
        _need(isinstance(inst.get("input"), str), "must be a string", file, f"{where}.input")
        outputs = _str_list(inst.get("output"), file, f"{where}.output")
        instances.append(Instance(inst["id"], inst["input"], tuple(outputs)))
    if max_instances is not None:
        instances = instances[:max_instances]
    return Task(name=name, definition=definition[0], category=categories[0],
                positive_examples=tuple(examples), instances=tuple(instances))


def parse_task_bytes(data: bytes, name: str, file: Path, **kw: Any) -> Task:
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 ({exc})", file=file) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
    return parse_task(obj, name, file, **kw)


def load_task(path: str | Path, *, max_instances: int | None = DEFAULT_MAX_INSTANCES) -> Task:
    path = Path(path)
    if not path.is_file():
        raise InputError("task file not found", file=path)
    return parse_task_bytes(path.read_bytes(), path.stem, path, max_instances=max_instances)


def read_task_list(path: str | Path) -> list[str]:
    """Task names, one per line (blank lines and `#` comments ignored)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("task list not found", file=path)
    names = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if "/" in name or name.endswith(".json"):
            raise InputError(f"expected a bare task name, got {name!r}", file=path, line=number)
        names.append(name)
    if not names:
        raise InputError("task list is empty", file=path)
    return names


def split_task_names(data_dir: str | Path) -> list[str]:
    return read_task_list(Path(data_dir) / TEST_SPLIT)


def load_tasks(data_dir: str | Path, names: Sequence[str] | None = None, *,
               max_instances: int | None = DEFAULT_MAX_INSTANCES) -> list[Task]:
    """Load the named tasks (default: the English test split) from a natural-instructions folder."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError("data directory not found", file=data_dir)
    if names is None:
        names = split_task_names(data_dir)
    tasks = []
    seen: dict[str, str] = {}
    for name in names:
        task = load_task(data_dir / TASKS_DIR / f"{name}.json", max_instances=max_instances)
        for inst in task.instances:
            if inst.id in seen:
                raise InputError(f"instance id {inst.id!r} also appears in task {seen[inst.id]}",
                                 file=data_dir / TASKS_DIR / f"{name}.json", field="Instances.id")
            seen[inst.id] = name
        tasks.append(task)
    return tasks


def reference_rows(tasks: Iterable[Task]) -> list[dict]:
    """Rows in the official reference format (`eval/leaderboard/create_reference_file.py`)."""
    return [
        {"id": inst.id, "references": list(inst.references), "task_id": task.name,
         "task_category": task.category, "track": "default"}
        for task in tasks for inst in task.instances
    ]
