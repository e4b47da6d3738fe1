"""One SuperNI evaluation run, end to end: tasks -> prompts -> predictions (resumable) ->
metrics.json, report.md, per_category.png and manifest.json in one output folder."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import write_json, write_jsonl
from selfinstruct.generation.provenance import software_versions

from .data import DEFAULT_MAX_INSTANCES, load_tasks, reference_rows
from .files import PredictionLog, read_predictions, read_references
from .metric import Reference, Scorer
from .prompts import build_prompts, get_format
from .report import write_report
from .runner import generate_predictions, prompt_budget, token_counter_for

PREDICTIONS = "predictions.jsonl"
# Settings that change what a prediction means: a resumed run must use the same ones.
RESUME_KEYS = ("model", "prompt", "num_pos_examples", "max_new_tokens", "stop", "prompt_budget")


@dataclass
class RunOptions:
    out: Path
    data_dir: Path | None = None
    data_url: str | None = None
    prompt: str = "self-instruct"
    num_pos_examples: int | None = None
    max_instances: int = DEFAULT_MAX_INSTANCES
    tasks: list[str] | None = None
    max_new_tokens: int = 128
    stop: list[str] = field(default_factory=list)
    max_context: int | None = None
    progress: bool = True


def versions() -> dict[str, str | None]:
    return software_versions("rouge-score", "nltk", "evaluate")


def _check_resume(out: Path, settings: dict) -> None:
    import json

    manifest = out / "manifest.json"
    if not (out / PREDICTIONS).exists() or not manifest.exists():
        return
    try:
        old = json.loads(manifest.read_text(encoding="utf-8")).get("settings", {})
    except (OSError, ValueError):
        return
    for key in RESUME_KEYS:
        if key in old and old[key] != settings.get(key):
            raise InputError(f"{out} holds predictions made with {key}={old[key]!r}, this run has "
                             f"{settings.get(key)!r}; use another --out (or delete {PREDICTIONS})",
                             file=manifest, field=f"settings.{key}")


def score_files(predictions: Path, references: Path, *, xlingual: bool = False,
                xlingual_tokenizer: str = "gpt2") -> dict:
    refs = read_references(references)
    preds = read_predictions(predictions, {r.id for r in refs})
    return Scorer(xlingual=xlingual, xlingual_tokenizer=xlingual_tokenizer).score(preds, refs).as_dict()


def run_evaluation(config: Any, opts: RunOptions, *, backend: Any = None) -> dict:
    """Run (or resume) an evaluation. `config` is a `BackendConfig`; pass `backend` to reuse a
    loaded model (it is then not closed here)."""
    t_start = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fmt = get_format(opts.prompt)
    k = fmt.num_pos_examples if opts.num_pos_examples is None else opts.num_pos_examples
    data_dir = opts.data_dir
    if data_dir is None:
        from .download import default_cache_dir, download_tasks

        data_dir = default_cache_dir()
        download_tasks(data_dir, tasks=opts.tasks, base_url=opts.data_url, progress=opts.progress)
    tasks = load_tasks(data_dir, opts.tasks, max_instances=opts.max_instances)
    t_loaded = time.perf_counter()

    own_backend = backend is None
    if own_backend:
        from selfinstruct.generation.lm.factory import make_backend

        backend = make_backend(config)
    try:
        t_model = time.perf_counter()
        budget = prompt_budget(backend, opts.max_new_tokens, opts.max_context)
        counter = token_counter_for(backend) if budget else None
        prompts = build_prompts(tasks, fmt, num_pos_examples=k, counter=counter, max_tokens=budget)
        settings = {
            "model": config.model, "prompt": fmt.name, "num_pos_examples": k,
            "max_new_tokens": opts.max_new_tokens, "stop": list(opts.stop), "max_context": opts.max_context,
            "prompt_budget": budget, "max_instances": opts.max_instances, "tasks": opts.tasks,
            "batch_size": config.batch_size, "decoding": "greedy", "data_dir": str(data_dir),
            "truncated_prompts": sum(p.truncated for p in prompts),
            "token_counter": type(counter).__name__ if counter else None,
        }
        out = Path(opts.out)
        out.mkdir(parents=True, exist_ok=True)
        _check_resume(out, settings)
        write_jsonl(out / "prompts.jsonl", ({"id": p.id, "task": p.task, "prompt": p.text,
                                             "examples": p.examples_used, "truncated": p.truncated} for p in prompts))
        write_jsonl(out / "references.jsonl", reference_rows(tasks))
        manifest = {"command": "selfinstruct evaluate superni run", "started_at": started, "settings": settings,
                    "backend": config.public_dict(), "versions": versions(), "status": "running"}
        write_json(out / "manifest.json", manifest)
        t_prompts = time.perf_counter()
        with PredictionLog(out / PREDICTIONS) as log:
            stats = generate_predictions(backend, prompts, log, max_new_tokens=opts.max_new_tokens,
                                         stop=opts.stop, progress=opts.progress)
        usage, cost = backend.usage, float(backend.cost_usd)
    finally:
        if own_backend:
            backend.close()
    t_generated = time.perf_counter()
    refs = [Reference(r["id"], tuple(r["references"]), r["task_id"], r["task_category"]) for r in reference_rows(tasks)]
    wanted = {r.id for r in refs}
    # the folder may hold predictions for a larger selection (--tasks/--max-instances narrowed)
    preds = {k: v for k, v in read_predictions(out / PREDICTIONS).items() if k in wanted}
    metrics = Scorer().score(preds, refs).as_dict()
    write_json(out / "metrics.json", metrics)
    write_report(out, metrics, model=config.model, settings=settings, stats=stats.as_dict())
    t_done = time.perf_counter()
    manifest.update({
        "status": "complete" if metrics["missing"] == 0 else "incomplete",
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "counts": {"tasks": len(tasks), "instances": len(refs), "predictions": len(preds),
                   "missing": metrics["missing"], "generated_this_run": stats.generated,
                   "errors_this_run": stats.errors, "truncated_prompts": settings["truncated_prompts"]},
        "tokens": {"prompt": stats.prompt_tokens, "completion": stats.completion_tokens,
                   "backend_usage": asdict(usage)},
        "cost_usd": cost,
        "generation": stats.as_dict(),
        "timings_s": {"load_tasks": round(t_loaded - t_start, 3), "load_model": round(t_model - t_loaded, 3),
                      "prompts": round(t_prompts - t_model, 3), "generate": round(t_generated - t_prompts, 3),
                      "score_and_report": round(t_done - t_generated, 3), "total": round(t_done - t_start, 3)},
        "scores": {"exact_match": metrics["exact_match"], "rougeL": metrics["rougeL"]},
    })
    write_json(out / "manifest.json", manifest)
    return metrics
