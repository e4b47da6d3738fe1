"""Where Evol-Instruct starts: the packaged seeds, a run's kept instructions, an instruction
JSONL, or a Parquet file or folder (a built dataset)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from ...jsonl import iter_jsonl
from ...rundir import RunPaths
from ...seeds import load_seed_tasks


@dataclass(frozen=True)
class PoolItem:
    id: str
    instruction: str
    root_id: str  # the starting instruction this one evolved from (itself at the start)


def _items(pairs: list[tuple[str | None, str]]) -> list[PoolItem]:
    out = []
    for n, (rid, text) in enumerate(pairs):
        rid = rid or f"pool_{n}"
        out.append(PoolItem(rid, text.strip(), rid))
    return out


def _jsonl(path: Path) -> list[tuple[str | None, str]]:
    pairs = []
    for line, obj in iter_jsonl(path):
        text = obj.get("instruction") if isinstance(obj, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise InputError("must be a non-empty string", file=path, line=line, field="instruction")
        rid = obj.get("id")
        pairs.append((rid if isinstance(rid, str) and rid else None, text))
    return pairs


def _parquet(files: list[Path]) -> list[tuple[str | None, str]]:
    import pyarrow.parquet as pq

    pairs: list[tuple[str | None, str]] = []
    for f in files:
        table = pq.read_table(f)
        if "instruction" not in table.column_names:
            raise InputError("has no instruction column", file=f, field="instruction")
        ids = table.column("id").to_pylist() if "id" in table.column_names else [None] * table.num_rows
        pairs += [(i, t) for i, t in zip(ids, table.column("instruction").to_pylist()) if isinstance(t, str) and t.strip()]
    first: dict[str, tuple[str | None, str]] = {}
    for i, t in pairs:
        first.setdefault(t, (i, t))  # an instruction once, however many instances it has
    return list(first.values())


def load_pool(source: str | None, limit: int | None = None) -> list[PoolItem]:
    if source is None:
        items = [PoolItem(t.id, t.instruction, t.id) for t in load_seed_tasks(None)]
    else:
        path = Path(source)
        if path.is_dir() and RunPaths(path).instructions.is_file():
            items = _items(_jsonl(RunPaths(path).instructions))
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*.parquet") if "instructions" in p.parts) or sorted(path.rglob("*.parquet"))
            if not files:
                raise InputError("is neither a run directory nor a folder of Parquet files", file=path, field="--pool")
            items = _items(_parquet(files))
        elif path.suffix == ".parquet":
            items = _items(_parquet([path]))
        elif path.is_file():
            items = _items(_jsonl(path))
        else:
            raise InputError("no such file or directory", file=path, field="--pool")
    items = items[:limit] if limit is not None else items
    if not items:
        raise InputError("holds no instructions", file=source or "packaged seeds", field="--pool")
    return items
