"""Shares of "yes" with 95% Wilson intervals, rater agreement, and the Markdown report.

Wilson's interval rather than the normal approximation because samples are small (the paper
rated 200) and shares sit near 1, where p +/- 1.96 sqrt(p(1-p)/n) runs past 100%. Shares are
over the items a rater answered; unanswered items are counted beside them, never as "no".
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

from ..user_oriented.stats import cohen_kappa, json_safe, percent_agreement
from .judge import DQRating
from .spec import ANSWERS, DataQualitySpec

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
ALL = "all"  # the row for "every question answered yes"


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def _share(k: int, n: int) -> dict:
    low, high = wilson_interval(k, n)
    return {"yes": k, "n": n, "share": k / n if n else math.nan, "ci95": [low, high]}


def rater_shares(ratings: Sequence[DQRating], keys: Sequence[str]) -> dict:
    """Per question (and ALL: every question yes), over the items that question was answered."""
    out = {}
    for key in keys:
        given = [r.answers[key] for r in ratings if r.answers and key in r.answers]
        out[key] = _share(given.count("yes"), len(given))
    complete = [r.answers for r in ratings if r.answers and all(k in r.answers for k in keys)]
    out[ALL] = _share(sum(all(a[k] == "yes" for k in keys) for a in complete), len(complete))
    out["rated"] = len(ratings)
    out["unanswered"] = sum(1 for r in ratings if not r.answers)
    return out


def agreement(ratings: Sequence[DQRating], keys: Sequence[str]) -> list[dict]:
    """Each pair of raters, each question: percent agreement and Cohen's kappa on shared items."""
    by_rater: dict[str, dict[str, dict]] = {}
    for r in ratings:
        by_rater.setdefault(r.rater, {})[r.id] = r.answers or {}
    rows = []
    for a, b in combinations(sorted(by_rater), 2):
        for key in [*keys, ALL]:
            xs, ys = [], []
            for item in sorted(by_rater[a].keys() & by_rater[b].keys()):
                x, y = (_answer(by_rater[r][item], key, keys) for r in (a, b))
                if x is not None and y is not None:
                    xs.append(x)
                    ys.append(y)
            if xs:
                rows.append({"rater_a": a, "rater_b": b, "question": key, "n": len(xs),
                             "percent_agreement": percent_agreement(xs, ys),
                             "cohen_kappa": cohen_kappa(xs, ys, categories=ANSWERS)})
    return rows


def _answer(answers: dict, key: str, keys: Sequence[str]) -> str | None:
    if key != ALL:
        return answers.get(key)
    if not all(k in answers for k in keys):
        return None
    return "yes" if all(answers[k] == "yes" for k in keys) else "no"


def summarize(ratings: Sequence[DQRating], spec: DataQualitySpec, *, sample_size: int, extra: dict) -> dict:
    raters = sorted({r.rater for r in ratings})
    shares = {rater: rater_shares([r for r in ratings if r.rater == rater], spec.keys) for rater in raters}
    return json_safe({"sample_size": sample_size, "questions": [q.__dict__ for q in spec.questions],
                      "judge_spec": spec.version, "shares": shares, "agreement": agreement(ratings, spec.keys),
                      **extra})


def _pct(share: dict) -> str:
    if share["share"] is None:
        return "n/a"
    low, high = share["ci95"]
    return f"{100 * share['share']:.1f}% ({share['yes']}/{share['n']}; 95% CI {100 * low:.1f}-{100 * high:.1f}%)"


def render_report(summary: dict, spec: DataQualitySpec, *, run_dir: str) -> str:
    lines = ["# Data quality of a generated run", "",
             (f"Run `{run_dir}`: {summary['sample_size']} sampled instructions, one instance each, rated on "
              f"{len(spec.questions)} yes/no questions (judge spec `{spec.version}`). Shares are over the items "
              "each rater answered; the interval is Wilson's 95% score interval."), "",
             "| question | " + " | ".join(f"`{r}`" for r in summary["shares"]) + " |",
             "|---|" + "---:|" * len(summary["shares"])]
    for q in spec.questions:
        lines.append(f"| {q.text} | " + " | ".join(_pct(s[q.key]) for s in summary["shares"].values()) + " |")
    lines.append("| **all questions yes** | " + " | ".join(_pct(s[ALL]) for s in summary["shares"].values()) + " |")
    lines.append("| unanswered / rated | " + " | ".join(f"{s['unanswered']} / {s['rated']}"
                                                        for s in summary["shares"].values()) + " |")
    if summary["agreement"]:
        lines += ["", "## Agreement", "", "| rater A | rater B | question | items | agreement | Cohen's kappa |",
                  "|---|---|---|---:|---:|---:|"]
        for row in summary["agreement"]:
            kappa = "n/a" if row["cohen_kappa"] is None else f"{row['cohen_kappa']:.3f}"
            lines.append(f"| `{row['rater_a']}` | `{row['rater_b']}` | {row['question']} | {row['n']} | "
                         f"{100 * row['percent_agreement']:.1f}% | {kappa} |")
    return "\n".join(lines) + "\n"
