"""From the experiment file to the list of stages, and which model each evaluation stage scores.

Paths of stage outputs are relative to the experiment folder (the stages run there), so an
experiment folder can be moved and its stage hashes still match; inputs outside it (a run
directory, SuperNI data, a task file) are absolute and hashed by content.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import iter_jsonl, write_jsonl

from .config import ExperimentConfig, Flags, JudgeSpec
from .stages import Stage

GENERATED_RUN = "stages/generate/run"
FINETUNING_FILES = ("finetuning_alpaca.jsonl", "finetuning_prompt_completion.jsonl", "finetuning_messages.jsonl")


def flag_args(flags: Flags, prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, value in flags.items():
        flag = f"--{prefix}{name}"
        if value is True:
            out.append(flag)
        elif isinstance(value, list):
            out += [flag, *map(str, value)]
        elif value is not False:
            out += [flag, str(value)]
    return out


def _judge_args(judge: JudgeSpec) -> list[str]:
    return ["--judge-model", judge.model, *flag_args(judge.flags, "judge-")]


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-") or "model"


@dataclass(frozen=True)
class PlannedModel:
    key: str  # stage-name part: base, tuned, tuned-175, cmp-<slug>
    label: str
    kind: str  # base | tuned | compare
    model: str  # what --model is given (a checkpoint folder for tuned ones)
    flags: Flags
    size: int | str | None = None  # tuned: the number of instructions trained on (or "all")
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    stages: list[Stage]
    models: list[PlannedModel]
    run_dir: str  # as the stages see it


def write_subset(run_dir: Path, size: int, folder: Path) -> None:
    """The run's finetuning rows of its first `size` machine-generated instructions (acceptance
    order, what a smaller run would have kept), seed rows all kept, into `folder/run`."""
    src = run_dir / "finetuning"
    rows = {name: [row for _, row in iter_jsonl(src / name)] for name in FINETUNING_FILES if (src / name).is_file()}
    if "finetuning_alpaca.jsonl" not in rows:
        raise InputError("needs finetuning/finetuning_alpaca.jsonl (ids per row) to cut data-size subsets",
                         file=run_dir, field="sweep")
    ids = [r.get("id") for r in rows["finetuning_alpaca.jsonl"]]
    if any(len(v) != len(ids) for v in rows.values()):
        raise InputError("the finetuning files differ in length; cannot cut matching subsets", file=src, field="sweep")
    generated = list(dict.fromkeys(i for i in ids if str(i).startswith("instruction_")))
    keep = set(generated[:size])
    chosen = [n for n, i in enumerate(ids) if i in keep or not str(i).startswith("instruction_")]
    for name, all_rows in rows.items():
        write_jsonl(folder / "run" / "finetuning" / name, [all_rows[n] for n in chosen])


def plan(cfg: ExperimentConfig) -> Plan:
    stages: list[Stage] = []
    data_after: list[str] = []
    if cfg.generate is not None:
        stages.append(Stage("generate", ["generate", "--out", GENERATED_RUN, *flag_args(cfg.generate)]))
        run_dir, data_inputs, data_after = GENERATED_RUN, [], ["generate"]
    else:
        assert cfg.run_dir is not None
        run_dir, data_inputs = str(cfg.run_dir), [cfg.run_dir]
    if cfg.data_quality:
        q = cfg.data_quality
        stages.append(Stage("data-quality", ["evaluate", "data-quality", run_dir, "--out", "stages/data-quality/out",
                                             "--sample", str(q.sample), "--seed", str(q.seed), *_judge_args(q.judge)],
                            inputs=list(data_inputs), after=list(data_after)))
    base = cfg.base
    models = [PlannedModel("base", base.label, "base", base.model, base.flags)]
    sizes = [] if cfg.finetune is None else list(cfg.sweep) or ["all"]
    if sizes and "all" not in sizes:
        sizes.append("all")
    for size in sizes:
        suffix = "" if size == "all" else f"-{size}"
        data = run_dir
        after = list(data_after)
        if size != "all":
            name = f"subset{suffix}"
            source = cfg.run_dir

            def cut(folder: Path, n: int = int(size), source: Path | None = source) -> None:
                write_subset(source if source is not None else folder.parents[1] / GENERATED_RUN, n, folder)

            stages.append(Stage(name, ["subset", str(size), run_dir], inputs=list(data_inputs), after=after, action=cut))
            data, after = f"stages/{name}/run", [name]
        ft = f"finetune{suffix}"
        stages.append(Stage(ft, ["finetune", "--data", data, "--model", base.model, "--out", f"stages/{ft}/model",
                                 *flag_args(cfg.finetune or {})], inputs=[] if size != "all" else list(data_inputs),
                            after=after))
        label = f"{base.label} + Self-Instruct" + ("" if size == "all" else f" ({size})")
        models.append(PlannedModel(f"tuned{suffix}", label, "tuned", f"stages/{ft}/model", cfg.tuned_flags, size,
                                   (ft,)))
    models += [PlannedModel(f"cmp-{slug(m.label)}", m.label, "compare", m.model, m.flags) for m in cfg.compare]
    if cfg.superni:
        s = cfg.superni
        extra = ["--max-instances", str(s.max_instances), *(["--tasks", *s.tasks] if s.tasks else []),
                 *(["--data-dir", str(s.data_dir)] if s.data_dir else []), *flag_args(s.flags)]
        inputs = _superni_inputs(s.data_dir, s.tasks)
        for m in models:
            stages.append(Stage(f"superni-{m.key}", ["evaluate", "superni", "run", "--out", f"stages/superni-{m.key}/out",
                                                     "--model", m.model, *flag_args(m.flags), *extra],
                                inputs=inputs, after=list(m.after)))
    if cfg.user_oriented:
        u = cfg.user_oriented
        tasks_file = ["--tasks-file", str(u.tasks_file)] if u.tasks_file else []
        common = [*(["--limit", str(u.limit)] if u.limit else []), *tasks_file]
        inputs = [u.tasks_file] if u.tasks_file else []
        preds = []
        for m in models:
            out = f"stages/uo-generate-{m.key}/predictions.jsonl"
            preds.append(out)
            stages.append(Stage(f"uo-generate-{m.key}", ["evaluate", "user-oriented", "generate", "--out", out,
                                                         "--model", m.model, "--model-name", m.label,
                                                         *flag_args(m.flags), *flag_args(u.flags), *common],
                                inputs=inputs, after=list(m.after)))
        stages.append(Stage("uo-judge", ["evaluate", "user-oriented", "judge", "--predictions", *preds, "--out",
                                         "stages/uo-judge/ratings.jsonl", *_judge_args(u.judge), *common],
                            inputs=inputs, after=[f"uo-generate-{m.key}" for m in models]))
        stages.append(Stage("uo-report", ["evaluate", "user-oriented", "report", "--ratings",
                                          "stages/uo-judge/ratings.jsonl", "--out", "stages/uo-report/out",
                                          *tasks_file], inputs=inputs, after=["uo-judge"]))
    return Plan(_base_first(stages), models, run_dir)


def _base_first(stages: list[Stage]) -> list[Stage]:
    """Evaluations of models that need no training run before the finetuning, so the first
    numbers arrive early; the dependency order is kept (no stage before one it reads)."""
    order = {s.name: n for n, s in enumerate(stages)}
    untrained = [s for s in stages if s.name.startswith(("superni-", "uo-generate-"))
                 and not any(a.startswith("finetune") for a in s.after)]
    rest = [s for s in stages if s not in untrained]
    first = [s for s in rest if s.name in ("generate", "data-quality")]
    return sorted(first, key=lambda s: order[s.name]) + untrained + [s for s in rest if s not in first]


def _superni_inputs(data_dir: Path | None, tasks: tuple[str, ...] | None) -> list[Path]:
    """The task files a run reads (all of the test split when no tasks are named)."""
    if data_dir is None:
        return []
    split = data_dir / "splits" / "default" / "test_tasks.txt"
    if tasks:
        names = tasks
    else:
        names = tuple(split.read_text("utf-8").split()) if split.is_file() else ()
    return [p for p in [split, *(data_dir / "tasks" / f"{t}.json" for t in names)] if p.exists()]
