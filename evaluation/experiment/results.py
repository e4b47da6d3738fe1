"""results.json and report.md from what the stages wrote, laid out like the paper's results.

Everything here is read back from stage outputs (metrics.json, summary.json), never from the
processes that wrote them, so the report of a resumed experiment equals that of an
uninterrupted one, and a test can build it from recorded files alone. Published figures come
from the SuperNI evaluation's own `paper_figures.json`, labelled as such: our subsets are far
smaller than the paper's test set and the rows are not comparable.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import atomic_writer, write_json
from selfinstruct.generation.rundir import read_manifest

from ..superni.report import FULL_TEST_SET, paper_figures
from ..user_oriented.report import plot_shares
from ..user_oriented.stats import GRADES
from .plan import Plan
from .stages import STAGE_FILE


def _read(root: Path, stage: str, name: str) -> dict | None:
    """A finished stage's output file, or None while the stage has not completed."""
    record = read_manifest(root / "stages" / stage / STAGE_FILE) or {}
    if record.get("status") != "complete":
        return None
    return read_manifest(root / "stages" / stage / name)


def _instructions(root: Path, run_dir: str) -> int | None:
    from ..data_quality.items import read_run

    try:
        return len(read_run(root / run_dir))
    except InputError:  # no finished run to count yet: the figure leaves the point out
        return None


def collect(root: Path, plan: Plan, stage_names: Sequence[str], *, name: str) -> dict[str, Any]:
    uo = _read(root, "uo-report", "out/summary.json") if "uo-report" in stage_names else None
    models = []
    for m in plan.models:
        metrics = _read(root, f"superni-{m.key}", "out/metrics.json") if f"superni-{m.key}" in stage_names else None
        superni = None if metrics is None else {
            "rougeL": metrics["rougeL"], "exact_match": metrics["exact_match"], "count": metrics["count"],
            "missing": metrics["missing"],
            "per_category": {c: s["rougeL"] for c, s in metrics.get("per_category", {}).items()}}
        models.append({"key": m.key, "label": m.label, "kind": m.kind, "model": m.model, "size": m.size,
                       "superni": superni, "user_oriented": (uo or {}).get(m.label)})
    total = _instructions(root, plan.run_dir)
    sweep = [{"size": m["size"], "instructions": total if m["size"] == "all" else
              (min(m["size"], total) if total else m["size"]),
              "superni_rougeL": (m["superni"] or {}).get("rougeL"),
              "user_oriented_A": (m["user_oriented"] or {}).get("A")}
             for m in models if m["kind"] == "tuned"]
    stages = {}
    for s in stage_names:
        rec = read_manifest(root / "stages" / s / STAGE_FILE) or {}
        stages[s] = {"status": rec.get("status", "pending"), "seconds": rec.get("seconds"), "hash": rec.get("hash")}
    quality = _read(root, "data-quality", "out/summary.json") if "data-quality" in stage_names else None
    return {"name": name, "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "models": models, "sweep": sweep if len(sweep) > 1 else [], "data_quality": quality,
            "paper_reference": paper_figures()["rows"], "stages": stages}


def _f(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def superni_table(results: dict) -> list[str]:
    rows = [m for m in results["models"] if m["superni"]]
    if not rows:
        return []
    cats = sorted({c for m in rows for c in m["superni"]["per_category"]})
    count = rows[0]["superni"]["count"]
    lines = ["## SuperNI (laid out like the paper's Table 3)", "",
             (f"ROUGE-L x 100, zero-shot, on {count} instances; the reference rows are the paper's, on the full "
              f"{FULL_TEST_SET}-instance test set, and are **not comparable** with a subset."), "",
             "| model | ROUGE-L | " + " | ".join(c.replace("_", " ") for c in cats) + " |",
             "|---|---:|" + "---:|" * len(cats)]
    for m in rows:
        s = m["superni"]
        lines.append(f"| {m['label']} | {_f(s['rougeL'])} | " +
                     " | ".join(_f(s["per_category"].get(c)) for c in cats) + " |")
    for ref in results["paper_reference"]:
        lines.append(f"| _published: {ref['model']} ({ref.get('params', '')})_ | _{_f(ref.get('rougeL'), 1)}_ | " +
                     " | ".join("–" for _ in cats) + " |")
    lines += ["", "Sources of the reference rows: " + "; ".join(r["source"] for r in results["paper_reference"]), ""]
    return lines


def user_table(results: dict, figure: str | None) -> list[str]:
    rows = [m for m in results["models"] if m["user_oriented"]]
    if not rows:
        return []
    lines = ["## User-oriented instructions (laid out like the paper's Figure 6)", ""]
    if figure:
        lines += [f"![A-D shares]({figure})", ""]
    lines += ["| model | " + " | ".join(GRADES) + " | unrated |", "|---|" + "---:|" * (len(GRADES) + 1)]
    for m in rows:
        u = m["user_oriented"]
        lines.append(f"| {m['label']} | " + " | ".join(_pct(u.get(g)) for g in GRADES) + f" | {u.get('unrated', 0)} |")
    return [*lines, ""]


def sweep_table(results: dict, figure: str | None) -> list[str]:
    if not results["sweep"]:
        return []
    lines = ["## Data size (laid out like the paper's Figure 7)", ""]
    if figure:
        lines += [f"![data size]({figure})", ""]
    lines += ["| finetuned on | instructions | SuperNI ROUGE-L | user-oriented A |", "|---|---:|---:|---:|"]
    for p in results["sweep"]:
        lines.append(f"| {p['size']} | {p['instructions'] or '–'} | {_f(p['superni_rougeL'])} | "
                     f"{_pct(p['user_oriented_A'])} |")
    return [*lines, ""]


def quality_table(results: dict) -> list[str]:
    q = results["data_quality"]
    if not q:
        return []
    lines = ["## Data quality (laid out like the paper's Table 2)", "", "| rater | question | yes | share |",
             "|---|---|---:|---:|"]
    for rater, shares in q["shares"].items():
        for key in [*(x["key"] for x in q["questions"]), "all"]:
            s = shares[key]
            lines.append(f"| {rater} | {key} | {s['yes']}/{s['n']} | {_pct(s['share'])} |")
    return [*lines, ""]


def render_report(results: dict, *, figures: dict[str, str]) -> str:
    lines = [f"# Experiment: {results['name']}", ""]
    lines += superni_table(results) + user_table(results, figures.get("user_oriented"))
    lines += sweep_table(results, figures.get("sweep")) + quality_table(results)
    lines += ["## Stages", "", "| stage | status | seconds |", "|---|---|---:|"]
    for name, s in results["stages"].items():
        lines.append(f"| {name} | {s['status']} | {_f(s['seconds'], 1)} |")
    return "\n".join(lines) + "\n"


def plot_sweep(points: Sequence[dict], path: Path) -> None:
    """ROUGE-L (and the user-oriented A share when judged) against instructions trained on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sorted((p for p in points if p["instructions"]), key=lambda p: p["instructions"])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for key, label, scale in (("superni_rougeL", "SuperNI ROUGE-L", 1), ("user_oriented_A", "user-oriented A (%)", 100)):
        xs = [p["instructions"] for p in pts if p[key] is not None]
        if xs:
            ax.plot(xs, [scale * p[key] for p in pts if p[key] is not None], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("instructions in the finetuning data")
    ax.set_ylabel("score")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    with atomic_writer(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)


def write_results(root: Path, plan: Plan, stage_names: Sequence[str], *, name: str) -> dict:
    results = collect(root, plan, stage_names, name=name)
    figures: dict[str, str] = {}
    shares = {m["label"]: m["user_oriented"] for m in results["models"] if m["user_oriented"]}
    if shares:
        plot_shares({"all": shares}, root / "user_oriented.png")
        figures["user_oriented"] = "user_oriented.png"
    if results["sweep"] and any(p["superni_rougeL"] is not None or p["user_oriented_A"] is not None
                                for p in results["sweep"]):
        plot_sweep(results["sweep"], root / "sweep.png")
        figures["sweep"] = "sweep.png"
    results["figures"] = figures
    write_json(root / "results.json", results)
    with atomic_writer(root / "report.md") as fh:
        fh.write(render_report(results, figures=figures))
    return results

