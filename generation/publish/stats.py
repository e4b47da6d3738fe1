"""Statistics of a generated dataset and the card's PNG plots.

The numbers are the ones the paper reports for its data (Table 1, Figures 2-3): how many
instructions and instances, how long they are, how far each instruction is from the seeds
(ROUGE-L to its nearest seed), and which verbs the instructions start with. Computing is pure
(`compute_stats`); drawing (`write_plots`) is the only part that touches matplotlib and disk.
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def word_count(text: str) -> int:
    return len(text.split())


def leading_verb(instruction: str) -> str | None:
    """First word, lowercased, stripped of punctuation: the paper's cheap proxy for the verb."""
    words = instruction.split(maxsplit=1)
    match = _WORD.search(words[0]) if words else None
    return match.group(0).lower() if match else None


@dataclass
class Summary:
    count: int
    mean: float
    median: float
    p90: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Summary":
        if not values:
            return cls(0, 0.0, 0.0, 0.0, 0)
        ordered = sorted(values)
        return cls(len(ordered), float(statistics.fmean(ordered)), float(statistics.median(ordered)),
                   float(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]), float(ordered[-1]))


@dataclass
class DatasetStats:
    instructions: int
    instances: int
    classification: int | None
    empty_input: int
    instruction_words: list[int] = field(repr=False)
    input_words: list[int] = field(repr=False)
    output_words: list[int] = field(repr=False)
    seed_rouge: list[float] = field(repr=False)
    seed_count: int
    verbs: list[tuple[str, int]]

    def summaries(self) -> dict[str, Summary]:
        return {
            "instruction length (words)": Summary.of(self.instruction_words),
            "non-empty input length (words)": Summary.of(self.input_words),
            "output length (words)": Summary.of(self.output_words),
            "ROUGE-L to the nearest seed": Summary.of(self.seed_rouge),
        }

    def to_json(self) -> dict:
        out = {k: v for k, v in asdict(self).items()
               if k not in ("instruction_words", "input_words", "output_words", "seed_rouge")}
        out["summaries"] = {k: asdict(v) for k, v in self.summaries().items()}
        return out


def nearest_seed_scores(instructions: Sequence[str], seeds: Sequence[str], *, progress: bool = True) -> list[float]:
    """ROUGE-L F of each instruction to its most similar seed instruction."""
    if not seeds:
        return []
    from selfinstruct.generation.similarity import RougeLIndex

    bar = tqdm(instructions, desc="ROUGE-L to seeds", unit="instr", disable=not progress)
    index = RougeLIndex(seeds)
    return [index.max_score(text)[0] for text in bar]


def compute_stats(instances: Iterable[dict], instructions: Iterable[str] | None, seeds: Sequence[str], *,
                  labels: dict[str, bool | None] | None = None, top_verbs: int = 20,
                  progress: bool = True) -> DatasetStats:
    """Statistics over instance rows ({instruction, input, output, is_classification}).

    `instructions` is the kept-instruction list when the run has one (some instructions may have
    no surviving instance); otherwise the distinct instructions of the instances are used.
    """
    rows = list(instances)
    seen: dict[str, bool | None] = {}
    for row in rows:
        seen.setdefault(row["instruction"], row.get("is_classification"))
    for text, label in (labels or {}).items():
        seen.setdefault(text, label)
    pool = list(dict.fromkeys(instructions)) if instructions is not None else list(seen)
    known = [seen.get(t) for t in pool if seen.get(t) is not None]
    verbs = Counter(v for v in map(leading_verb, pool) if v)
    return DatasetStats(
        instructions=len(pool),
        instances=len(rows),
        classification=sum(bool(v) for v in known) if known else None,
        empty_input=sum(not r["input"].strip() for r in rows),
        instruction_words=[word_count(t) for t in pool],
        input_words=[word_count(r["input"]) for r in rows if r["input"].strip()],
        output_words=[word_count(r["output"]) for r in rows],
        seed_rouge=nearest_seed_scores(pool, seeds, progress=progress),
        seed_count=len(seeds),
        verbs=verbs.most_common(top_verbs),
    )


PLOTS = {
    "instruction_length": "figures/instruction_length.png",
    "output_length": "figures/output_length.png",
    "rouge_to_seeds": "figures/rouge_to_nearest_seed.png",
    "leading_verbs": "figures/leading_verbs.png",
}


def write_plots(stats: DatasetStats, folder: Path) -> dict[str, str]:
    """Draw the four figures under `folder`; returns {plot: relative path} of those drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn: dict[str, str] = {}

    def save(name: str, fig) -> None:
        path = folder / PLOTS[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=110, metadata={"Software": None})
        plt.close(fig)
        drawn[name] = PLOTS[name]

    def histogram(name: str, series: list[tuple[str, Sequence[float]]], xlabel: str, bins) -> None:
        if not any(values for _, values in series):
            return
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for label, values in series:
            if values:
                ax.hist(values, bins=bins, alpha=0.7, label=f"{label} (n={len(values):,})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        ax.legend()
        save(name, fig)

    def word_bins(values: Sequence[int]):
        top = max(values, default=1)
        return range(0, min(top, 400) + 2, max(1, min(top, 400) // 40 or 1))

    histogram("instruction_length", [("instructions", stats.instruction_words)], "instruction length (words)",
              word_bins(stats.instruction_words))
    histogram("output_length", [("outputs", stats.output_words), ("non-empty inputs", stats.input_words)],
              "length (words)", word_bins(stats.output_words + stats.input_words))
    histogram("rouge_to_seeds", [("instructions", stats.seed_rouge)], "ROUGE-L F to the most similar seed instruction",
              [i / 40 for i in range(41)])
    if stats.verbs:
        words, counts = zip(*stats.verbs)
        fig, ax = plt.subplots(figsize=(6.4, max(2.5, 0.28 * len(words) + 1)))
        ax.barh(list(reversed(words)), list(reversed(counts)))
        ax.set_xlabel("instructions starting with the word")
        save("leading_verbs", fig)
    return drawn
