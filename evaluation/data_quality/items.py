"""The sample that gets rated: instructions of a run, one instance each, chosen with a seed.

Read straight from the run directory's `all_generated_instances.jsonl` (docs/run-directory.md)
with the shared JSONL reader: evaluation may not import the publish layer, and this file is the
one place a run keeps its finished instances. Folders written by the original scripts have no
ids; their instructions get the same derived id the dataset builder gives them.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import iter_jsonl
from selfinstruct.generation.records import derived_instruction_id

INSTANCES_FILE = "all_generated_instances.jsonl"


@dataclass(frozen=True)
class Item:
    id: str  # the instruction's id in the run
    instruction: str
    input: str
    output: str

    def to_json(self) -> dict:
        return asdict(self)


def read_run(run_dir: str | Path) -> dict[str, list[Item]]:
    """Instruction id -> its instances, in the run's order."""
    path = Path(run_dir) / INSTANCES_FILE
    if not Path(run_dir).is_dir():
        raise InputError("no such run directory", file=run_dir, field="RUN_DIR")
    if not path.is_file():
        raise InputError(f"no {INSTANCES_FILE}: is this a finished run directory?", file=run_dir, field="RUN_DIR")
    by_id: dict[str, list[Item]] = {}
    for line, row in iter_jsonl(path):
        if not isinstance(row, dict):
            raise InputError("expected a JSON object", file=path, line=line)
        for name in ("instruction", "input", "output"):
            if not isinstance(row.get(name), str):
                raise InputError("missing or not a string", file=path, line=line, field=name)
        rid = row.get("id") if isinstance(row.get("id"), str) else derived_instruction_id(row["instruction"])
        by_id.setdefault(rid, []).append(Item(rid, row["instruction"], row["input"], row["output"]))
    if not by_id:
        raise InputError("the run has no instances to rate", file=path)
    return by_id


def sample_items(by_id: dict[str, list[Item]], size: int, seed: int) -> list[Item]:
    """`size` instructions (all of them when there are fewer) and one random instance of each,
    in the run's order. The same run, size and seed give the same sample on any machine."""
    if size < 1:
        raise InputError("must be at least 1", field="--sample")
    rng = random.Random(seed)
    ids = list(by_id)
    chosen = set(rng.sample(ids, min(size, len(ids))))
    return [rng.choice(by_id[i]) for i in ids if i in chosen]


def check_same_sample(items: Sequence[Item], saved: Sequence[dict], out: Path) -> None:
    """A resumed folder must rate the sample it started with, or its shares would mix two."""
    if [i.to_json() for i in items] != list(saved):
        raise InputError("this folder holds ratings of another sample (other run, --sample or --seed); "
                         "use another --out", file=out, field="--out")
