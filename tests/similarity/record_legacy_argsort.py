"""Records what numpy before 1.25 gives for `np.argsort(row)[-10:]` on rows full of ties, for
`test_argsort_legacy.py`. Run it under an old numpy (it needs nothing else):

    python3.11 -m venv /tmp/np124 && /tmp/np124/bin/pip install numpy==1.24.4
    /tmp/np124/bin/python tests/similarity/record_legacy_argsort.py [CORPUS.jsonl]

The rows come from Python's own `random` (the same on every version) and, when a corpus is
given, from ROUGE-L F scores (whitespace tokens, plain LCS) of corpus sentences against the
sentences before them, the kind of row the pipeline sorts.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "data" / "legacy_argsort_numpy124.json"
SIZES = (1, 2, 5, 9, 10, 11, 16, 17, 18, 33, 100, 257, 1000, 3000)


def synthetic(rng: random.Random, t: int) -> list[float]:
    n = rng.choice(SIZES)
    levels = [2, 3, 5, 20, 100][t % 5]
    return [rng.randrange(levels) / levels for _ in range(n)]


def structured(n: int) -> list[list[float]]:
    return [[i / n for i in range(n)], [(n - i) / n for i in range(n)], [0.5] * n,
            [(i % 7) / 7 for i in range(n)], [round(((i * 7919) % n) / n, 1) for i in range(n)]]


def lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_rows(corpus: Path, count: int = 40, pool: int = 800) -> list[list[float]]:
    lines = [json.loads(line) for line in corpus.read_text("utf-8").splitlines()[:pool]]
    toks = [str(d.get("text") or d.get("instruction") or next(iter(d.values()))).lower().split() for d in lines]
    rows = []
    for q in range(pool - count, pool):
        row = []
        for p in range(q):
            m = lcs(toks[q], toks[p])
            r, pr = (m / len(toks[q]) if toks[q] else 0.0), (m / len(toks[p]) if toks[p] else 0.0)
            row.append(0.0 if m == 0 else 2 * pr * r / (pr + r))
        rows.append(row)
    return rows


def case(row: list[float], kind: str) -> dict:
    values = sorted(set(row))
    code = {v: i for i, v in enumerate(values)}
    arr = np.array(row, dtype=np.float64)
    tail = np.argsort(arr)[-10:] if kind == "quicksort" else np.argsort(arr, kind="heapsort")[-10:]
    return {"kind": kind, "values": values, "codes": " ".join(str(code[v]) for v in row), "tail": tail.tolist()}


def main() -> None:
    rng = random.Random(20221220)
    rows = [synthetic(rng, t) for t in range(300)]
    for n in (17, 100, 1000, 3000):
        rows += structured(n)
    if len(sys.argv) > 1:
        rows += rouge_rows(Path(sys.argv[1]))
    cases = [case(r, "quicksort") for r in rows] + [case(r, "heapsort") for r in rows[:60]]
    OUT.write_text(json.dumps({"numpy": np.__version__, "cases": cases}, separators=(",", ":")) + "\n")
    print(f"{len(cases)} cases from numpy {np.__version__} -> {OUT}")


if __name__ == "__main__":
    main()
