"""Summaries of ratings: grade shares per model (table, JSON, stacked bars like the paper's
figure), agreement between raters, and the judge's length bias.

Pure computation here returns plain dicts; writing files is at the bottom and atomic.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from selfinstruct.generation.jsonl import atomic_writer, write_json

from .predictions import Prediction
from .ratings import Rating, by_rater, grade_counts, rater_kind, shares
from .stats import GRADES, json_safe, length_bias, mean_of, pairwise_agreement

GRADE_COLORS = {"A": "#1a7f37", "B": "#8cc265", "C": "#f2b84b", "D": "#cf222e"}


def agreement_rows(ratings: Sequence[Rating], *, across_kinds_only: bool = False) -> list[dict]:
    """Pairwise agreement between raters on shared (task, model) items. With
    `across_kinds_only`, only human-vs-LLM pairs (the calibration question)."""
    table = by_rater(ratings)
    names = sorted(table)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
             if not across_kinds_only or {rater_kind(a), rater_kind(b)} == {"human", "llm"}]
    return pairwise_agreement(table, pairs)


def length_bias_by_rater(ratings: Sequence[Rating], predictions: Sequence[Prediction]) -> dict:
    """Per rater and pooled: mean response length (words) per grade and Spearman's rho."""
    words = {(p.id, p.model): len(p.response.split()) for p in predictions}
    per: dict[str, tuple[list[str], list[int]]] = defaultdict(lambda: ([], []))
    for r in ratings:
        if r.rating is None or r.item not in words:
            continue
        for name in (r.rater, "all"):
            per[name][0].append(r.rating)
            per[name][1].append(words[r.item])
    return {name: length_bias(g, n) for name, (g, n) in sorted(per.items())}


def shares_by_kind(ratings: Sequence[Rating]) -> dict[str, dict]:
    kinds: dict[str, list[Rating]] = defaultdict(list)
    for r in ratings:
        kinds[rater_kind(r.rater)].append(r)
    return {k: shares(v) for k, v in sorted(kinds.items())}


def shares_by_rater(ratings: Sequence[Rating]) -> dict[str, dict]:
    raters: dict[str, list[Rating]] = defaultdict(list)
    for r in ratings:
        raters[r.rater].append(r)
    return {k: shares(v) for k, v in sorted(raters.items())}


def judge_summary(ratings: Sequence[Rating], predictions: Sequence[Prediction], *, extra: dict | None = None) -> dict:
    rows = agreement_rows(ratings)
    return json_safe({
        "counts": {rater: {"rated": sum(1 for r in ratings if r.rater == rater and r.rating is not None),
                           "unrated": sum(1 for r in ratings if r.rater == rater and r.rating is None)}
                   for rater in sorted({r.rater for r in ratings})},
        "shares_by_rater": shares_by_rater(ratings),
        "agreement": {"pairs": rows, "mean_percent_agreement": mean_of(rows, "percent_agreement"),
                      "mean_cohen_kappa": mean_of(rows, "cohen_kappa")},
        "length_bias": length_bias_by_rater(ratings, predictions),
        **(extra or {}),
    })


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def shares_table(table: dict[str, dict], counts: dict[str, dict] | None = None) -> str:
    lines = ["| model | A | B | C | D | rated | unrated |", "|---|---:|---:|---:|---:|---:|---:|"]
    for model, row in table.items():
        rated = sum(counts[model][g] for g in GRADES) if counts else ""
        lines.append(f"| {model} | " + " | ".join(_pct(row[g]) for g in GRADES) + f" | {rated} | {row['unrated']} |")
    return "\n".join(lines)


def agreement_table(rows: Sequence[dict]) -> str:
    if not rows:
        return "_No two raters rated the same items._"
    lines = ["| rater A | rater B | shared items | agreement | Cohen's kappa | quadratic-weighted kappa |",
             "|---|---|---:|---:|---:|---:|"]
    for r in json_safe(list(rows)):
        lines.append(f"| {r['rater_a']} | {r['rater_b']} | {r['n']} | {_fmt(r['percent_agreement'])} | "
                     f"{_fmt(r['cohen_kappa'])} | {_fmt(r['quadratic_weighted_kappa'])} |")
    return "\n".join(lines)


def render_report(ratings: Sequence[Rating], *, sources: Iterable[str] = (), figure: str | None = "shares.png") -> str:
    all_shares = shares(ratings)
    parts = ["# User-oriented evaluation: ratings report", ""]
    srcs = list(sources)
    if srcs:
        parts += ["Ratings from: " + ", ".join(f"`{s}`" for s in srcs), ""]
    raters = sorted({r.rater for r in ratings})
    parts += [f"{len(ratings)} ratings by {len(raters)} rater(s): " + ", ".join(f"`{r}`" for r in raters), "",
              "Grades (the paper's scale): A valid and satisfying; B acceptable with minor imperfections; "
              "C relevant but with significant errors; D irrelevant or invalid. Shares are over rated items; "
              "`unrated` counts ratings where the rater gave no usable verdict.", "",
              "## All raters", "", shares_table(all_shares, grade_counts(ratings)), ""]
    kinds = shares_by_kind(ratings)
    if len(kinds) > 1:
        for kind, table in kinds.items():
            subset = [r for r in ratings if rater_kind(r.rater) == kind]
            parts += [f"## {kind} raters", "", shares_table(table, grade_counts(subset)), ""]
    if figure:
        parts += [f"![Grade shares per model]({figure})", ""]
    cross = agreement_rows(ratings, across_kinds_only=True)
    parts += ["## Human vs. LLM judge agreement", "",
              agreement_table(cross) if cross else "_No item was rated by both a person and an LLM judge._", ""]
    rows = agreement_rows(ratings)
    if rows:
        parts += ["## Agreement between all rater pairs", "", agreement_table(rows), ""]
    return "\n".join(parts)


PANEL_TITLES = {"all": "all ratings", "human": "human ratings", "llm": "LLM-judge ratings"}


def plot_shares(panels: dict[str, dict[str, dict]], path: str | Path,
                rated: dict[str, dict[str, int]] | None = None) -> None:
    """Stacked bars (A at the bottom) per model, one panel per rater kind, models side by side;
    `rated` (panel -> model -> n) labels each bar with how many ratings it stands on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    models = sorted({m for table in panels.values() for m in table})
    width = max(4.0, 1.1 * len(models) + 1.5)
    fig, axes = plt.subplots(1, n, figsize=(width * n, 4.2), squeeze=False, sharey=True)
    for ax, (name, table) in zip(axes[0], panels.items()):
        xs = range(len(models))
        bottom = [0.0] * len(models)
        for g in GRADES:
            vals = [100 * (table.get(m, {}).get(g) or 0.0) for m in models]
            bars = ax.bar(xs, vals, bottom=bottom, color=GRADE_COLORS[g], label=g, width=0.65, edgecolor="white")
            for bar, v, b in zip(bars, vals, bottom):
                if v >= 6:
                    ax.text(bar.get_x() + bar.get_width() / 2, b + v / 2, f"{v:.0f}%", ha="center", va="center",
                            fontsize=8, color="white" if g in ("A", "D") else "black")
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_xticks(list(xs))
        labels = [f"{m}\n(n={rated[name].get(m, 0)})" if rated else m for m in models]
        ax.set_xticklabels(labels, rotation=20 if len(models) > 3 else 0, ha="right" if len(models) > 3 else "center",
                           fontsize=9)
        ax.set_ylim(0, 100)
        ax.set_xlim(-0.9, len(models) - 0.1)
        ax.set_title(PANEL_TITLES.get(name, f"{name} ratings"), fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0][0].set_ylabel("share of rated responses (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="center right", title="grade", frameon=False)
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    with atomic_writer(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=130)
    plt.close(fig)


def write_report(ratings: Sequence[Rating], out_dir: str | Path, *, sources: Iterable[str] = ()) -> dict:
    """report.md, summary.json ({model: {A, B, C, D, unrated}}), agreement.json, shares.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = shares(ratings)
    kinds = shares_by_kind(ratings)
    panels = kinds if len(kinds) > 1 else {"all": summary}

    def rated(subset: Sequence[Rating]) -> dict[str, int]:
        return {m: sum(c[g] for g in GRADES) for m, c in grade_counts(subset).items()}

    counts = ({k: rated([r for r in ratings if rater_kind(r.rater) == k]) for k in kinds} if len(kinds) > 1
              else {"all": rated(ratings)})
    plot_shares(panels, out / "shares.png", counts)
    with atomic_writer(out / "report.md") as fh:
        fh.write(render_report(ratings, sources=sources))
    write_json(out / "agreement.json", json_safe({
        "human_vs_llm": agreement_rows(ratings, across_kinds_only=True),
        "all_pairs": agreement_rows(ratings),
        "shares_by_kind": kinds, "shares_by_rater": shares_by_rater(ratings),
    }))
    write_json(out / "summary.json", summary)
    return summary
