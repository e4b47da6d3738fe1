"""The 252 user-oriented evaluation tasks: a strict loader, and a verified download cache.

The set is never committed to this project (upstream asks that it is not trained on, and a copy
in the wheel would invite exactly that), so users get it from the upstream repository once and
keep it in a cache. A file is only accepted, from disk or from the network, if it has exactly
the upstream shape: 252 records, one instance each, unique ids. A truncated download or a
different file therefore fails loudly instead of silently scoring a subset.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from selfinstruct.generation.cache import cache_root, fetch_bytes
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import atomic_writer, iter_jsonl_bytes

EXPECTED_COUNT = 252
DEFAULT_BASE_URL = "https://raw.githubusercontent.com/yizhongw/self-instruct/main"
RELATIVE_PATH = "human_eval/user_oriented_instructions.jsonl"
FILE_NAME = "user_oriented_instructions.jsonl"
BASE_URL_ENV = "SELFINSTRUCT_USER_ORIENTED_BASE_URL"


@dataclass(frozen=True)
class UserTask:
    """One evaluation item; `output` is the expert-written reference."""

    id: str
    motivation_app: str
    instruction: str
    input: str
    output: str


def _check_str(obj: dict, key: str, path: Path, line: int, field: str | None = None) -> str:
    if key not in obj:
        raise InputError("missing field", file=path, line=line, field=field or key)
    if not isinstance(obj[key], str):
        raise InputError(f"expected str, got {type(obj[key]).__name__}", file=path, line=line, field=field or key)
    return obj[key]


def parse_tasks_bytes(data: bytes, path: str | Path, *, expected_count: int | None = EXPECTED_COUNT) -> list[UserTask]:
    """Validate the upstream schema record by record; `path` only names the source in errors."""
    path = Path(path)
    tasks: list[UserTask] = []
    seen: dict[str, int] = {}
    for number, obj in iter_jsonl_bytes(data, path):
        if not isinstance(obj, dict):
            raise InputError("expected a JSON object", file=path, line=number)
        task_id = _check_str(obj, "id", path, number)
        if not task_id.strip():
            raise InputError("must not be empty", file=path, line=number, field="id")
        if task_id in seen:
            raise InputError(f"duplicate id {task_id!r} (first on line {seen[task_id]})", file=path, line=number, field="id")
        app = _check_str(obj, "motivation_app", path, number)
        instruction = _check_str(obj, "instruction", path, number)
        if not instruction.strip():
            raise InputError("must not be empty", file=path, line=number, field="instruction")
        instances = obj.get("instances")
        if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
            raise InputError("expected a list with exactly one {input, output} object", file=path, line=number,
                             field="instances")
        inp = _check_str(instances[0], "input", path, number, "instances[0].input")
        out = _check_str(instances[0], "output", path, number, "instances[0].output")
        seen[task_id] = number
        tasks.append(UserTask(task_id, app, instruction, inp, out))
    if expected_count is not None and len(tasks) != expected_count:
        raise InputError(f"expected {expected_count} user-oriented tasks, found {len(tasks)} "
                         "(truncated or not the upstream file?)", file=path)
    return tasks


def load_tasks_file(path: str | Path, *, expected_count: int | None = EXPECTED_COUNT) -> list[UserTask]:
    path = Path(path)
    if not path.is_file():
        raise InputError("tasks file not found", file=path)
    return parse_tasks_bytes(path.read_bytes(), path, expected_count=expected_count)


def tasks_url(base_url: str | None = None) -> str:
    base = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return f"{base.rstrip('/')}/{RELATIVE_PATH}"


def download_tasks(base_url: str | None = None, cache_dir: str | Path | None = None, *,
                   timeout: float = 60.0, force: bool = False) -> Path:
    """Fetch the tasks into the cache (atomically, only after validation) and return the path."""
    cache = Path(cache_dir) if cache_dir is not None else cache_root()
    dest = cache / "user_oriented" / FILE_NAME
    if dest.is_file() and not force:
        load_tasks_file(dest)  # a cached file is re-verified on every use
        return dest
    url = tasks_url(base_url)
    try:
        data = fetch_bytes(url, timeout=timeout)
    except OSError as exc:
        raise InputError(f"could not download the user-oriented tasks ({exc}); pass --tasks-file with a "
                         "local copy or --tasks-base-url with a mirror", file=url) from None
    parse_tasks_bytes(data, url)
    with atomic_writer(dest, "wb") as fh:
        fh.write(data)
    return dest


def resolve_tasks(tasks_file: str | Path | None = None, *, base_url: str | None = None,
                  cache_dir: str | Path | None = None) -> tuple[list[UserTask], Path]:
    """The tasks from a local file if one is named, else from the (downloaded) cache."""
    path = Path(tasks_file) if tasks_file is not None else download_tasks(base_url, cache_dir)
    return load_tasks_file(path), path


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def normalize_text(text: str) -> str:
    """Whitespace-insensitive key: upstream prediction files carry stray trailing newlines."""
    return " ".join(text.split())
