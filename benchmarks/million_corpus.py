"""Issue 19's benchmark corpus: instruction-like sentences at any size up to a million and beyond,
built deterministically from the 50k bench corpus (never committed; generated into a cache).

    python benchmarks/million_corpus.py --size 1000000 [--seed 19] [--out PATH]

Why families: a Self-Instruct pool at scale is mostly paraphrase-level variation of a smaller
set of ideas, and the filter's cost lives in those near-misses. So a corpus of `size` sentences
is `size // FAMILY` families, each one original sentence (the bench corpus in file order) plus
FAMILY - 1 variants of it made by word drops, adjacent swaps, insertions and substitutions
(inserted and substituted words drawn from the corpus's own words, frequency-weighted). Each
variant's edit rate comes from a mixture: a light share that stays near its original and a
heavy share that moves away from it and from its siblings, which is what sets the share of
near-duplicates at 0.7 (tests/similarity/test_million_corpus.py measures it with the real
filter). The stream is a seeded shuffle of all families' members, so a family's members meet
at any distance, and every size has the same family structure: a small corpus is a faithful
sample of a large one.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "bench" / "instruction_corpus_50k.jsonl"
FAMILY = 20  # one original + 19 variants: 50k originals make a million sentences
OPERATIONS = ("drop", "swap", "insert", "substitute")


@dataclass(frozen=True)
class EditMix:
    """Edit rates per variant (edits per word): `light` of the variants draw from light_range,
    the rest from heavy_range. Tuned so that 30-50% of a corpus is a near-duplicate at 0.7."""

    light: float = 0.3
    light_range: tuple[float, float] = (0.0, 0.15)
    heavy_range: tuple[float, float] = (0.4, 0.9)

    def rate(self, rng: random.Random) -> float:
        lo, hi = self.light_range if rng.random() < self.light else self.heavy_range
        return rng.uniform(lo, hi)


def load_originals(path: Path = SOURCE, limit: int | None = None) -> list[str]:
    out: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line)["instruction"])
                if limit is not None and len(out) >= limit:
                    break
    return out


def apply(words: list[str], op: str, vocabulary: list[str], rng: random.Random) -> list[str]:
    """`words` after one operation (a new list). Dropping or swapping in a text of fewer than
    two words inserts instead, so every operation changes the text's length or order."""
    out = list(words)
    if op in ("drop", "swap") and len(out) < 2:
        op = "insert"
    if op == "drop":
        del out[rng.randrange(len(out))]
    elif op == "swap":
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    elif op == "insert":
        out.insert(rng.randrange(len(out) + 1), rng.choice(vocabulary))
    elif op == "substitute":
        out[rng.randrange(len(out))] = rng.choice(vocabulary)
    else:
        raise ValueError(f"unknown operation {op!r}")
    return out


def edit(words: list[str], edits: int, vocabulary: list[str], rng: random.Random) -> tuple[list[str], list[str]]:
    """`words` after `edits` operations drawn uniformly; also returns the operations, in order."""
    ops = []
    for _ in range(edits):
        ops.append(rng.choice(OPERATIONS))
        words = apply(words, ops[-1], vocabulary, rng)
    return words, ops


def variant(text: str, vocabulary: list[str], rng: random.Random, mix: EditMix) -> str:
    words = text.split()
    edits = max(1, round(mix.rate(rng) * len(words)))
    return " ".join(edit(words, edits, vocabulary, rng)[0])


def build(originals: list[str], size: int, seed: int = 19, mix: EditMix = EditMix()) -> list[str]:
    """`size` sentences: whole families first (as many as fit), then a last partial one, the
    whole shuffled. Needs `ceil(size / FAMILY)` originals."""
    families = -(-size // FAMILY)
    if families > len(originals):
        raise ValueError(f"{size} sentences need {families} originals, got {len(originals)}")
    rng = random.Random(seed)
    vocabulary = [w for text in originals for w in text.split()]
    out: list[str] = []
    for f in range(families):
        original = originals[f]
        members = min(FAMILY, size - len(out))
        out.append(original)
        out.extend(variant(original, vocabulary, rng, mix) for _ in range(members - 1))
    rng.shuffle(out)
    return out


def cache_dir() -> Path:
    return Path(os.environ.get("SELFINSTRUCT_BENCH_CACHE") or Path(tempfile.gettempdir()) / "selfinstruct-bench")


def corpus_path(size: int, seed: int = 19, source: Path = SOURCE) -> Path:
    """The corpus as JSONL ({"instruction": ...} a line) in the cache, generated on first use.
    The name carries a digest of the source and of this generator, so neither can change under
    a stale file."""
    digest = hashlib.sha256(source.read_bytes() + Path(__file__).read_bytes()).hexdigest()[:12]
    path = cache_dir() / f"million_corpus-{digest}-s{seed}-n{size}.jsonl"
    if not path.exists():
        texts = build(load_originals(source), size, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for text in texts:
                fh.write(json.dumps({"instruction": text}) + "\n")
        tmp.replace(path)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--source", type=Path, default=SOURCE)
    args = ap.parse_args()
    print(corpus_path(args.size, args.seed, args.source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
