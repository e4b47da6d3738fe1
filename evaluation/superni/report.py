"""report.md (our scores beside the paper's) and a per-category bar chart, from metrics alone."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from selfinstruct.generation.jsonl import atomic_writer

FULL_TEST_SET = 11810
# Tk-Instruct's choice of headline metric per category (EM for classification-like ones).
EM_CATEGORIES = frozenset({
    "textual_entailment", "cause_effect_classification", "coreference_resolution",
    "dialogue_act_recognition", "answerability_classification", "word_analogy",
})


@lru_cache(maxsize=None)
def paper_figures() -> dict:
    return json.loads(resources.files(__package__).joinpath("paper_figures.json").read_text(encoding="utf-8"))


def _fmt(x: Any) -> str:
    return "–" if x is None else (f"{x:.2f}" if isinstance(x, float) else str(x))


def render_report(metrics: dict, *, model: str, settings: dict, stats: dict | None = None,
                  chart: str | None = None) -> str:
    n, missing = metrics["count"], metrics["missing"]
    lines = [f"# SuperNI evaluation: {model}", ""]
    lines += [f"Prompt encoding `{settings.get('prompt')}`, greedy decoding, at most "
              f"{settings.get('max_new_tokens')} new tokens, first {settings.get('max_instances')} instances per task. "
              f"ROUGE-L and exact match as in the official SuperNI script (stemmed ROUGE-L, max over references, "
              f"micro-average over instances).", ""]
    if n != FULL_TEST_SET:
        lines += [f"**Scored on {n} instances, not the full {FULL_TEST_SET}-instance test set: "
                  "not directly comparable with the published numbers below.**", ""]
    if missing:
        lines += [f"**{missing} instance(s) had no prediction and were scored as empty (0).**", ""]
    lines += ["| model | ROUGE-L | exact match | instances | source |", "|---|---:|---:|---:|---|"]
    lines.append(f"| **{model}** (this run) | **{metrics['rougeL']:.2f}** | {metrics['exact_match']:.2f} | {n} | measured here |")
    for row in paper_figures()["rows"]:
        lines.append(f"| {row['model']} ({row.get('params', '')}) | {_fmt(row.get('rougeL'))} | "
                     f"{_fmt(row.get('exact_match'))} | {FULL_TEST_SET} | {row['source']} |")
    lines += ["", f"_{paper_figures()['not_listed']}_", ""]
    lines += ["## Per category", "", "Tk-Instruct reports exact match for classification-like categories and "
              "ROUGE-L for the rest; the reported one is in bold.", "",
              "| category | instances | exact match | ROUGE-L |", "|---|---:|---:|---:|"]
    for cat, s in metrics["per_category"].items():
        em, rl = f"{s['exact_match']:.2f}", f"{s['rougeL']:.2f}"
        em, rl = (f"**{em}**", rl) if cat in EM_CATEGORIES else (em, f"**{rl}**")
        lines.append(f"| {cat} | {s['count']} | {em} | {rl} |")
    if chart:
        lines += ["", f"![per-category scores]({chart})"]
    lines += ["", "## Per task", "", "| task | instances | exact match | ROUGE-L |", "|---|---:|---:|---:|"]
    for task, s in metrics["per_task"].items():
        lines.append(f"| {task} | {s['count']} | {s['exact_match']:.2f} | {s['rougeL']:.2f} |")
    if stats:
        lines += ["", "## Run", "", f"- generated: {stats.get('generated')} (reused from an earlier run: "
                  f"{stats.get('skipped_existing')}), errors: {stats.get('errors')}, "
                  f"stopped at the token limit: {stats.get('stopped_by_length')}",
                  f"- tokens: {stats.get('prompt_tokens')} prompt, {stats.get('completion_tokens')} completion; "
                  f"{_fmt(stats.get('seconds'))} s"]
        if settings.get("truncated_prompts"):
            lines.append(f"- prompts cut to fit the context: {settings['truncated_prompts']} (the input was "
                         "shortened; the \"Output:\" cue kept)")
    return "\n".join(lines) + "\n"


def plot_categories(metrics: dict, path: str | Path, *, title: str = "") -> Path:
    """Grouped horizontal bars, EM and ROUGE-L per category (Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = list(metrics["per_category"])
    em = [metrics["per_category"][c]["exact_match"] for c in cats]
    rl = [metrics["per_category"][c]["rougeL"] for c in cats]
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(cats), 2) + 1.2))
    ys = range(len(cats))
    ax.barh([y + 0.2 for y in ys], rl, height=0.4, label="ROUGE-L", color="#1f77b4")
    ax.barh([y - 0.2 for y in ys], em, height=0.4, label="exact match", color="#ff7f0e")
    ax.set_yticks(list(ys), [c.replace("_", " ") for c in cats])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (x100)")
    ax.set_title(title or f"SuperNI per category (overall ROUGE-L {metrics['rougeL']:.2f})")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = Path(path)
    with atomic_writer(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
    return path


def write_report(out_dir: str | Path, metrics: dict, *, model: str, settings: dict, stats: dict | None = None) -> Path:
    out_dir = Path(out_dir)
    chart = plot_categories(metrics, out_dir / "per_category.png", title=f"SuperNI: {model}")
    text = render_report(metrics, model=model, settings=settings, stats=stats, chart=chart.name)
    with atomic_writer(out_dir / "report.md") as fh:
        fh.write(text)
    return out_dir / "report.md"
