"""Turn a run directory (ours or one written by the original scripts) into plain row dicts,
one reader per dataset config.

The readers are the only place that knows the run-directory layout (docs/run-directory.md), so
the `datasets` builder, the statistics and the card all see the same rows. Folders written by
the original scripts lack our extra fields; the fallbacks below fill them deterministically
(an id derived from the instruction text, `is_classification` from the `is_clf_or_not_*` file)
so a dataset built twice from the same folder is identical.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import iter_jsonl
from selfinstruct.generation.records import (  # the writer's rules: one source for both sides
    derived_instruction_id,
    is_classification_answer,
    normalize_instruction,
    user_content,
)
from selfinstruct.generation.rundir import RunPaths, read_manifest

_NAMES = RunPaths(Path("."))
INSTRUCTIONS_FILE = _NAMES.instructions.name
INSTANCES_FILE = _NAMES.all_instances.name
RAW_INSTANCES_FILE = _NAMES.instances.name
CLF_GLOB = "is_clf_or_not_*.jsonl"
FINETUNING_FILE = "finetuning/finetuning_prompt_completion.jsonl"
FINETUNING_UPSTREAM_GLOB = "finetuning/gpt3_finetuning_data_*.jsonl"
MESSAGES_FILE = "finetuning/finetuning_messages.jsonl"
PARAPHRASES_FILE = "paraphrases.jsonl"  # Unnatural Instructions runs only
LINEAGE_FILE = "lineage.jsonl"  # Evol-Instruct runs only
EVOLUTIONS = ("add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth")
MANIFEST_FILE = _NAMES.manifest.name

END_OF_TEXT = "<|endoftext|>"


class MissingInput(InputError):
    """A config's input file is absent: `build` skips that config, direct use reports it."""


def _require(run_dir: Path, rel: str) -> Path:
    path = run_dir / rel
    if not path.is_file():
        raise MissingInput(f"this config needs {rel}, which the run directory lacks", file=path)
    return path


def _field(obj: Any, name: str, kind: type | tuple[type, ...], path: Path, line: int, *, optional: bool = False):
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object", file=path, line=line)
    if name not in obj or obj[name] is None:
        if optional:
            return None
        raise InputError("missing field", file=path, line=line, field=name)
    value = obj[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise InputError(f"expected {names}, got {type(value).__name__}", file=path, line=line, field=name)
    return value


# ---------------------------------------------------------------- classification labels


def lenient_yes(run_dir: Path) -> bool:
    """Which "yes" rule the run labelled its classification answers with: its profile's
    `lenient_yes`. A folder without a manifest is the original scripts' output (strict); a
    manifest that names no profile was written by the default profile."""
    # imported here, not at the top: the `datasets` builder script loads this module and stays light
    from selfinstruct.generation.pipeline.profiles import get_profile

    path = RunPaths(run_dir).manifest
    manifest = read_manifest(path)
    if manifest is None:
        return False
    name = manifest.get("profile")
    name = "default" if name is None else name
    if not isinstance(name, str):
        raise InputError(f"expected str, got {type(name).__name__}", file=path, field="profile")
    try:
        return get_profile(name).lenient_yes
    except InputError as exc:
        raise InputError(exc.message, file=path, field="profile") from None


def classification_labels(run_dir: Path) -> dict[str, bool]:
    """normalized instruction -> is_classification, from every source the folder has.

    Our `machine_generated_instances.jsonl` and `is_clf_or_not_*.jsonl` carry a bool; the
    upstream files carry only the raw answer text. Files are read oldest first so a re-run of
    the classification step overrides an earlier one.
    """
    labels: dict[str, bool] = {}
    lenient = None  # the run's rule, read only when some file records an answer but no label
    files = sorted(run_dir.glob(CLF_GLOB), key=lambda p: (p.stat().st_mtime_ns, p.name))
    for path in files:
        for line, obj in iter_jsonl(path, allow_torn_tail=True):
            instruction = _field(obj, "instruction", str, path, line)
            if isinstance(obj.get("label"), bool):
                label = obj["label"]
            else:
                answer = _field(obj, "is_classification", (str, bool), path, line)
                if isinstance(answer, bool):
                    label = answer
                else:
                    lenient = lenient_yes(run_dir) if lenient is None else lenient
                    label = is_classification_answer(answer, lenient=lenient)
            labels[normalize_instruction(instruction)] = label
    raw = run_dir / RAW_INSTANCES_FILE
    if raw.is_file():
        for line, obj in iter_jsonl(raw, allow_torn_tail=True):
            if isinstance(obj, dict) and isinstance(obj.get("is_classification"), bool):
                labels.setdefault(normalize_instruction(_field(obj, "instruction", str, raw, line)),
                                  obj["is_classification"])
    return labels


def instruction_ids(run_dir: Path) -> dict[str, str]:
    """normalized instruction -> id, from our `id` fields where the run recorded them."""
    ids: dict[str, str] = {}
    path = run_dir / INSTRUCTIONS_FILE
    if path.is_file():
        for _, obj in iter_jsonl(path, allow_torn_tail=True):
            if isinstance(obj, dict) and isinstance(obj.get("id"), str) and isinstance(obj.get("instruction"), str):
                ids.setdefault(normalize_instruction(obj["instruction"]), obj["id"])
    return ids


# ---------------------------------------------------------------- per-config readers


def read_instances(run_dir: Path) -> Iterator[dict]:
    path = _require(run_dir, INSTANCES_FILE)
    labels = classification_labels(run_dir)
    ids = instruction_ids(run_dir)
    for line, obj in iter_jsonl(path):
        instruction = _field(obj, "instruction", str, path, line)
        key = normalize_instruction(instruction)
        rid = _field(obj, "id", str, path, line, optional=True)
        clf = _field(obj, "is_classification", bool, path, line, optional=True)
        yield {
            "instruction_id": rid or ids.get(key) or derived_instruction_id(instruction),
            "instruction": instruction,
            "input": _field(obj, "input", str, path, line),
            "output": _field(obj, "output", str, path, line),
            "is_classification": clf if clf is not None else labels.get(key),
        }


def _most_similar(value: Any, path: Path, line: int) -> list[dict]:
    if value is None:
        return []
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):  # tolerate the list-of-objects form our own docs use
        pairs = [(v.get("instruction"), v.get("score")) for v in value if isinstance(v, dict)]
    else:
        raise InputError(f"expected an object, got {type(value).__name__}", file=path, line=line, field="most_similar")
    out = []
    for text, score in pairs:
        if not isinstance(text, str) or not isinstance(score, (int, float)) or isinstance(score, bool):
            raise InputError("expected instruction -> number", file=path, line=line, field="most_similar")
        out.append({"instruction": text, "score": float(score)})
    out.sort(key=lambda d: -d["score"])
    return out


def read_instructions(run_dir: Path) -> Iterator[dict]:
    path = _require(run_dir, INSTRUCTIONS_FILE)
    labels = classification_labels(run_dir)
    for line, obj in iter_jsonl(path, allow_torn_tail=True):
        instruction = _field(obj, "instruction", str, path, line)
        score = _field(obj, "avg_similarity_score", (int, float), path, line, optional=True)
        yield {
            "id": _field(obj, "id", str, path, line, optional=True) or derived_instruction_id(instruction),
            "instruction": instruction,
            "is_classification": labels.get(normalize_instruction(instruction)),
            "most_similar": _most_similar(obj.get("most_similar"), path, line),
            "avg_similarity_score": None if score is None else float(score),
        }


def finetuning_file(run_dir: Path) -> Path:
    """Our stable name first; else the upstream `gpt3_finetuning_data_<N>.jsonl` (newest)."""
    ours = run_dir / FINETUNING_FILE
    if ours.is_file():
        return ours
    upstream = sorted(run_dir.glob(FINETUNING_UPSTREAM_GLOB), key=lambda p: (p.stat().st_mtime_ns, p.name))
    if upstream:
        return upstream[-1]
    return _require(run_dir, FINETUNING_FILE)


def read_prompt_completion(path: Path) -> Iterator[dict]:
    for line, obj in iter_jsonl(path):
        yield {
            "prompt": _field(obj, "prompt", str, path, line),
            "completion": _field(obj, "completion", str, path, line),
        }


def read_finetuning(run_dir: Path) -> Iterator[dict]:
    return read_prompt_completion(finetuning_file(run_dir))


def read_messages(run_dir: Path) -> Iterator[dict]:
    """Our `finetuning_messages.jsonl`; for upstream folders, built from the kept instances."""
    path = run_dir / MESSAGES_FILE
    if not path.is_file():
        if (run_dir / INSTANCES_FILE).is_file():
            for row in read_instances(run_dir):
                yield {
                    "id": row["instruction_id"],
                    "messages": [
                        {"role": "user", "content": user_content(row["instruction"], row["input"])},
                        {"role": "assistant", "content": row["output"].strip()},
                    ],
                }
            return
        raise MissingInput(f"this config needs {MESSAGES_FILE} (or {INSTANCES_FILE} to build it from), "
                         "which the run directory lacks", file=path)
    for line, obj in iter_jsonl(path):
        messages = _field(obj, "messages", list, path, line)
        clean = []
        for k, msg in enumerate(messages):
            where = f"messages[{k}]"
            if not isinstance(msg, dict):
                raise InputError("expected {role, content}", file=path, line=line, field=where)
            for key in ("role", "content"):
                if not isinstance(msg.get(key), str):
                    raise InputError("expected str", file=path, line=line, field=f"{where}.{key}")
            clean.append({"role": msg["role"], "content": msg["content"]})
        yield {"id": _field(obj, "id", str, path, line, optional=True) or "", "messages": clean}


def read_seed_tasks(path: Path) -> Iterator[dict]:
    from selfinstruct.generation.seeds import load_seed_tasks

    for task in load_seed_tasks(path):
        yield task.to_json()


def read_paraphrases(run_dir: Path) -> Iterator[dict]:
    """`paraphrases.jsonl` of an Unnatural Instructions run; MissingInput for other methods."""
    path = _require(run_dir, PARAPHRASES_FILE)
    for line, obj in iter_jsonl(path):
        yield {key: _field(obj, key, str, path, line)
               for key in ("id", "source_id", "instruction", "source_instruction", "input", "output")}


def read_lineage(run_dir: Path) -> Iterator[dict]:
    """`lineage.jsonl` of an Evol-Instruct run; MissingInput for other methods."""
    path = _require(run_dir, LINEAGE_FILE)
    for line, obj in iter_jsonl(path):
        operation = _field(obj, "operation", str, path, line)
        if operation not in EVOLUTIONS:
            raise InputError(f"unknown evolution {operation!r}; expected one of: {', '.join(EVOLUTIONS)}",
                             file=path, line=line, field="operation")
        epoch = _field(obj, "epoch", int, path, line)
        if epoch < 1:
            raise InputError(f"expected an epoch from 1, got {epoch}", file=path, line=line, field="epoch")
        row = {key: _field(obj, key, str, path, line) for key in ("id", "parent_id", "root_id")}
        row.update(operation=operation, epoch=epoch)
        row.update({key: _field(obj, key, str, path, line) for key in ("instruction", "parent_instruction", "output")})
        yield row


def split_groups(run_dir: Path) -> dict[str, str]:
    """normalized instruction -> the instruction whose hash decides its split, for instructions
    that are near-copies of another: a paraphrase follows the instruction it rephrases, an
    evolved instruction the root of its lineage. Empty for a Self-Instruct run."""
    groups: dict[str, str] = {}
    if (run_dir / PARAPHRASES_FILE).is_file():
        for row in read_paraphrases(run_dir):
            groups[normalize_instruction(row["instruction"])] = row["source_instruction"]
    if (run_dir / LINEAGE_FILE).is_file():
        rows = {row["id"]: row for row in read_lineage(run_dir)}
        for row in rows.values():
            first, seen = row, {row["id"]}  # walk up to the first-epoch step, whose parent is the root
            while first["parent_id"] in rows and first["parent_id"] not in seen:
                seen.add(first["parent_id"])
                first = rows[first["parent_id"]]
            groups[normalize_instruction(row["instruction"])] = first["parent_instruction"]
    return groups


def check_inputs(config: str, run_dir: Path) -> None:
    """Raise `MissingInput` naming the file a config needs, before any row is generated."""
    if config == "instances":
        _require(run_dir, INSTANCES_FILE)
    elif config == "instructions":
        _require(run_dir, INSTRUCTIONS_FILE)
    elif config == "finetuning":
        finetuning_file(run_dir)
    elif config == "paraphrases":
        _require(run_dir, PARAPHRASES_FILE)
    elif config == "lineage":
        _require(run_dir, LINEAGE_FILE)
    elif config == "messages" and not (run_dir / MESSAGES_FILE).is_file() and not (run_dir / INSTANCES_FILE).is_file():
        raise MissingInput(f"this config needs {MESSAGES_FILE} (or {INSTANCES_FILE} to build it from), "
                           "which the run directory lacks", file=run_dir / MESSAGES_FILE)


RUN_READERS = {
    "instances": read_instances,
    "instructions": read_instructions,
    "finetuning": read_finetuning,
    "messages": read_messages,
    "paraphrases": read_paraphrases,
    "lineage": read_lineage,
}


# ---------------------------------------------------------------- split keys and cache


def known_instructions(run_dir: Path) -> list[str]:
    """Every instruction the run's instances and instruction files hold, for `splits.InstructionMatcher`."""
    texts: list[str] = []
    for rel in (INSTANCES_FILE, INSTRUCTIONS_FILE):
        path = run_dir / rel
        if path.is_file():
            texts += [o["instruction"] for _, o in iter_jsonl(path, allow_torn_tail=True)
                      if isinstance(o, dict) and isinstance(o.get("instruction"), str)]
    return texts


def source_files(run_dir: Path) -> list[Path]:
    """The files a run-directory dataset is built from, for the cache fingerprint."""
    pats = [INSTRUCTIONS_FILE, INSTANCES_FILE, RAW_INSTANCES_FILE, CLF_GLOB, "finetuning/*.jsonl", MANIFEST_FILE,
            "seed_tasks.jsonl", PARAPHRASES_FILE, LINEAGE_FILE]
    out: list[Path] = []
    for pat in pats:
        out += sorted(p for p in run_dir.glob(pat) if p.is_file())
    return out


def fingerprint(paths: Iterable[Path]) -> str:
    """Changes whenever an input file changes, so a resumed run is never served from a stale cache."""
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]

