"""The experiment file: one YAML document, checked field by field before anything runs.

A mistake found after two hours of generation is two hours lost, so every field is checked up
front and reported as one line naming the file, the line YAML puts it on and the field's path
(`evaluations.superni.max_instances`). Relative paths are relative to the experiment file, so
the file means the same thing from any working directory. API keys never go in the file (it
gets shared and committed): the commands read them from the environment, as always.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.specfile import read_yaml_text

Flags = dict[str, Any]  # flag name without "--" -> value (True: the bare flag; a list: several values)
SECRET_FLAGS = ("api-key", "judge-api-key")


@dataclass(frozen=True)
class ModelSpec:
    label: str  # the row name in tables and figures
    model: str
    flags: Flags = field(default_factory=dict)


@dataclass(frozen=True)
class JudgeSpec:
    model: str
    flags: Flags = field(default_factory=dict)  # judge flags without the judge- prefix


@dataclass(frozen=True)
class SuperNISpec:
    tasks: tuple[str, ...] | None
    max_instances: int
    data_dir: Path | None
    flags: Flags


@dataclass(frozen=True)
class UserOrientedSpec:
    judge: JudgeSpec
    limit: int | None
    tasks_file: Path | None
    flags: Flags  # for `user-oriented generate`


@dataclass(frozen=True)
class DataQualitySpec:
    judge: JudgeSpec
    sample: int
    seed: int


@dataclass(frozen=True)
class ExperimentConfig:
    path: Path
    name: str
    run_dir: Path | None  # existing data, or None when `generate` makes it
    generate: Flags | None
    base: ModelSpec
    finetune: Flags | None  # None: no finetuning (evaluate and compare the given models only)
    tuned_flags: Flags  # model flags for evaluating the finetuned checkpoints
    sweep: tuple[int | str, ...]
    compare: tuple[ModelSpec, ...]
    superni: SuperNISpec | None
    user_oriented: UserOrientedSpec | None
    data_quality: DataQualitySpec | None


def key_lines(text: str) -> dict[str, int]:
    """Dotted field path -> 1-based line, from YAML's node marks (for the error messages)."""
    lines: dict[str, int] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                sub = f"{path}.{k.value}" if path else str(k.value)
                lines[sub] = k.start_mark.line + 1
                walk(v, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                lines[f"{path}[{i}]"] = v.start_mark.line + 1
                walk(v, f"{path}[{i}]")

    try:
        walk(yaml.compose(text, Loader=yaml.SafeLoader), "")
    except yaml.YAMLError:
        pass  # read_yaml_text reports it
    return lines


class _Reader:
    """Typed access to the parsed file, every failure an InputError at the field's line."""

    def __init__(self, path: Path, text: str) -> None:
        self.file, self.lines = path, key_lines(text)
        self.data = read_yaml_text(text, path)

    def fail(self, where: str, message: str) -> InputError:
        line, probe = None, where
        while probe and line is None:
            line = self.lines.get(probe)
            probe = probe.rpartition(".")[0] if "." in probe else ""
        return InputError(message, file=self.file, line=line, field=where)

    def mapping(self, value: Any, where: str, known: tuple[str, ...]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, "must be a mapping")
        for k in value:
            if k not in known:
                raise self.fail(f"{where}.{k}" if where else str(k), f"unknown field (known: {', '.join(known)})")
        return value

    def get(self, m: dict, key: str, where: str, kind: type | tuple, default: Any = None, required: bool = False):
        value = m.get(key, default)
        path = f"{where}.{key}" if where else key
        if value is None:
            if required:
                raise self.fail(path, "is required")
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))):
            names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise self.fail(path, f"must be {names}, not {value!r}")
        return value

    def positive(self, m: dict, key: str, where: str, default: int | None = None) -> int | None:
        value = self.get(m, key, where, int, default)
        if value is not None and value < 1:
            raise self.fail(f"{where}.{key}", "must be at least 1")
        return value

    def flags(self, m: dict, key: str, where: str, reserved: tuple[str, ...] = ()) -> Flags:
        value = self.get(m, key, where, dict, {})
        path = f"{where}.{key}" if where else key
        out: Flags = {}
        for name, v in value.items():
            flag = str(name).removeprefix("--")
            at = f"{path}.{name}"
            if flag in SECRET_FLAGS or flag.endswith("-api-key"):
                raise self.fail(at, "no API keys in the experiment file: set $OPENAI_API_KEY in the environment")
            if flag in reserved:
                raise self.fail(at, "is set by the experiment itself")
            if not (isinstance(v, (str, int, float, bool)) or (isinstance(v, list) and v and all(
                    isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in v))):
                raise self.fail(at, "must be a string, number, true/false or a list of those")
            out[flag] = v
        return out

    def path(self, m: dict, key: str, where: str) -> Path | None:
        value = self.get(m, key, where, str)
        return None if value is None else (self.file.parent / Path(value).expanduser()).resolve()

    def model(self, m: Any, where: str, *, label: str | None = None) -> ModelSpec:
        m = self.mapping(m, where, ("name", "model", "flags"))
        model = self.get(m, "model", where, str, required=True)
        return ModelSpec(self.get(m, "name", where, str) or label or model, model,
                         self.flags(m, "flags", where, reserved=("out", "model")))

    def judge(self, m: dict, where: str) -> JudgeSpec:
        j = self.mapping(self.get(m, "judge", where, dict, required=True), f"{where}.judge", ("model", "flags"))
        return JudgeSpec(self.get(j, "model", f"{where}.judge", str, required=True),
                         self.flags(j, "flags", f"{where}.judge", reserved=("out", "model")))


TOP = ("name", "data", "base_model", "finetune", "sweep", "compare", "evaluations")


def load_config(path: str | Path) -> ExperimentConfig:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", file=path) from None
    r = _Reader(path, text)
    top = r.mapping(r.data, "", TOP)
    data = r.mapping(r.get(top, "data", "", dict, required=True), "data", ("run_dir", "generate"))
    if ("run_dir" in data) == ("generate" in data):
        raise r.fail("data", "give exactly one of run_dir (existing data) or generate (flags for `selfinstruct generate`)")
    run_dir = r.path(data, "run_dir", "data")
    if run_dir is not None and not run_dir.is_dir():
        raise r.fail("data.run_dir", f"no such run directory: {run_dir}")
    generate = r.flags(data, "generate", "data", reserved=("out",)) if "generate" in data else None
    base = r.model(r.get(top, "base_model", "", dict, required=True), "base_model", label="base")
    ft = r.mapping(r.get(top, "finetune", "", dict, {}), "finetune", ("flags", "eval_flags"))
    if "finetune" not in top and top.get("sweep"):
        raise r.fail("sweep", "a data-size sweep finetunes: add a finetune section")
    sweep = r.get(top, "sweep", "", list, [])
    for i, size in enumerate(sweep):
        if size != "all" and not (isinstance(size, int) and not isinstance(size, bool) and size > 0):
            raise r.fail(f"sweep[{i}]", f"must be a number of instructions or `all`, not {size!r}")
    if len(set(map(str, sweep))) != len(sweep):
        raise r.fail("sweep", "lists a size twice")
    compare = tuple(r.model(m, f"compare[{i}]") for i, m in enumerate(r.get(top, "compare", "", list, [])))
    labels = [base.label, *(m.label for m in compare)]
    if len(set(labels)) != len(labels):
        raise r.fail("compare", f"two models share the name {next(x for x in labels if labels.count(x) > 1)!r}")
    ev = r.mapping(r.get(top, "evaluations", "", dict, required=True), "evaluations",
                   ("superni", "user_oriented", "data_quality"))
    if not ev:
        raise r.fail("evaluations", "name at least one of superni, user_oriented, data_quality")
    superni = user = quality = None
    if "superni" in ev:
        s = r.mapping(ev["superni"], "evaluations.superni", ("tasks", "max_instances", "data_dir", "flags"))
        tasks = r.get(s, "tasks", "evaluations.superni", list)
        if tasks is not None and (not tasks or not all(isinstance(t, str) for t in tasks)):
            raise r.fail("evaluations.superni.tasks", "must be a non-empty list of task names")
        data_dir = r.path(s, "data_dir", "evaluations.superni")
        if data_dir is not None and not (data_dir / "tasks").is_dir():
            raise r.fail("evaluations.superni.data_dir", f"no tasks/ folder in {data_dir} (leave data_dir out to download)")
        superni = SuperNISpec(tuple(tasks) if tasks else None, r.positive(s, "max_instances", "evaluations.superni", 100),
                              data_dir,
                              r.flags(s, "flags", "evaluations.superni", reserved=("out", "tasks", "max-instances", "data-dir")))
    if "user_oriented" in ev:
        u = r.mapping(ev["user_oriented"], "evaluations.user_oriented", ("judge", "limit", "tasks_file", "flags"))
        user = UserOrientedSpec(r.judge(u, "evaluations.user_oriented"), r.positive(u, "limit", "evaluations.user_oriented"),
                                r.path(u, "tasks_file", "evaluations.user_oriented"),
                                r.flags(u, "flags", "evaluations.user_oriented", reserved=("out", "limit", "model-name")))
    if "data_quality" in ev:
        q = r.mapping(ev["data_quality"], "evaluations.data_quality", ("judge", "sample", "seed"))
        quality = DataQualitySpec(r.judge(q, "evaluations.data_quality"), r.positive(q, "sample", "evaluations.data_quality", 200),
                                  r.get(q, "seed", "evaluations.data_quality", int, 0))
    return ExperimentConfig(
        path=path.resolve(), name=r.get(top, "name", "", str) or path.stem, run_dir=run_dir, generate=generate,
        base=base, finetune=r.flags(ft, "flags", "finetune", reserved=("data", "model", "out")) if "finetune" in top else None,
        tuned_flags=r.flags(ft, "eval_flags", "finetune", reserved=("out", "model")),
        sweep=tuple(sweep), compare=compare, superni=superni, user_oriented=user, data_quality=quality)
