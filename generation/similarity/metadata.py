"""Upstream's per-instruction similarity metadata: `most_similar` and `avg_similarity_score`.

Upstream, for each kept instruction, scores it against the whole pool and records

    {all_instructions[i]: rouge_scores[i] for i in np.argsort(rouge_scores)[-10:][::-1]}
    float(np.mean(rouge_scores))

Both need every score, so there is nothing to prune: the work is an all-pairs LCS, done here by
rapidfuzz's `cdist` over integer-token strings in blocks of queries (the pool's conversion is paid
once per block, not once per pair), spread over a process pool when the batch is big.

Tie order: numpy's default argsort is an unstable quicksort (on x86 with AVX2/AVX-512, numpy 2
dispatches it to SIMD sorting networks), so which of several equal scores comes first depends on
the numpy build and the CPU. The only faithful reproduction is to call the very same
`np.argsort` on the very same float64 array, which is what `upstream_top_indices` does; means use
`np.mean` (pairwise summation) on that array, as upstream did.
"""
from __future__ import annotations

import itertools
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from .scoring import fmeasure_row

if TYPE_CHECKING:  # pragma: no cover
    from .index import RougeLIndex

# Below this many (query, pool entry) pairs a process pool costs more than it saves:
# starting two workers is ~0.3 s, and cdist does ~30-40 M pairs/s/core here.
PARALLEL_MIN_PAIRS = 20_000_000
BLOCK = 128  # queries per cdist call: amortises pool conversion, keeps the int32 block ~25 MB at 50k


@dataclass(frozen=True)
class SimilarityMetadata:
    top_k: list[tuple[int, float]]  # (pool index, score), upstream's order
    most_similar: dict[str, float]  # upstream's field: top_k keyed by text
    avg_similarity_score: float  # upstream's field: np.mean over the pool (0.0 for an empty pool)


def upstream_top_indices(row: np.ndarray, k: int) -> np.ndarray:
    """`np.argsort(row)[-k:][::-1]` exactly as upstream, except that k <= 0 gives nothing."""
    if k <= 0 or len(row) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.argsort(row)[-k:][::-1]


def collapse_top_k(texts: Sequence[str], top: Iterable[tuple[int, float]]) -> dict[str, float]:
    """Upstream builds a dict from the top-k: a text that occurs twice in the pool keeps its
    first position and the later value (the same score, since the text is the same)."""
    return {texts[i]: s for i, s in top}


def _mean(row: np.ndarray) -> float:
    return float(np.mean(row)) if len(row) else 0.0


def metadata_from_row(texts: Sequence[str], row: np.ndarray, k: int) -> SimilarityMetadata:
    top = [(int(i), float(row[i])) for i in upstream_top_indices(row, k)]
    return SimilarityMetadata(top, collapse_top_k(texts, top), _mean(row))


def score_block(pool_codes: list, pool_lens: np.ndarray, codes: list, lens: Sequence[int],
                uptos: Sequence[int], k: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(top-k indices, their scores, mean) for each query against its pool prefix."""
    width = max(uptos) if len(uptos) else 0
    if width == 0:
        return [(np.zeros(0, np.int64), np.zeros(0), 0.0) for _ in codes]
    lcs = process.cdist(codes, pool_codes[:width], scorer=LCSseq.similarity, processor=None,
                        dtype=np.int32, workers=1)
    table_width = int(pool_lens[:width].max()) + 1
    out = []
    for r, (n, u) in enumerate(zip(lens, uptos)):
        row = fmeasure_row(lcs[r, :u], pool_lens[:u], n, table_width) if n else np.zeros(u)
        top = upstream_top_indices(row, k)
        out.append((top, row[top], _mean(row)))
    return out


_WORKER: dict = {}


def _init_worker(pool_codes: list, pool_lens: np.ndarray) -> None:
    _WORKER["codes"], _WORKER["lens"] = pool_codes, pool_lens


def _worker_block(codes: list, lens: list[int], uptos: list[int], k: int):
    start = time.process_time()
    out = score_block(_WORKER["codes"], _WORKER["lens"], codes, lens, uptos, k)
    return out, time.process_time() - start


def frequency_relabel(pool_codes: list, symbols: Iterable[str]) -> dict[int, str] | None:
    """A `str.translate` table giving the most frequent tokens the smallest code points.

    LCS is unchanged by any one-to-one relabelling, but rapidfuzz looks characters below 256 up
    in a flat array and the rest in a hash map, so putting the common tokens there makes cdist
    about 20% faster on the bench corpus. Every symbol of the vocabulary gets a new code point
    (the pool's by frequency, then the rest), so the map stays one-to-one on queries too; the
    unknown-token symbol (0) is never a target. None for int-list sequences.
    """
    if not pool_codes or not isinstance(pool_codes[0], str):
        return None
    table: dict[int, str] = {}
    ranked = (ch for ch, _ in Counter("".join(pool_codes)).most_common())
    for ch in itertools.chain(ranked, symbols):
        if ord(ch) not in table:
            rank = len(table) + 1
            table[ord(ch)] = chr(rank + 0x800 if rank >= 0xD800 else rank)
    return table


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _context():
    import multiprocessing as mp

    # forkserver: safe even when the caller has threads (tqdm, torch) that fork would copy
    # mid-lock; the pool state travels once per worker as initializer arguments.
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods and sys.platform != "darwin" else "spawn")


def batch_metadata(index: "RougeLIndex", texts: Sequence[str], *, k: int = 10,
                   upto: int | Sequence[int] | None = None, workers: int | None = None,
                   progress: bool = False, stats: dict | None = None) -> list[SimilarityMetadata]:
    """See `RougeLIndex.metadata_batch`; `stats`, if given, receives workers, blocks, pairs and
    cpu_seconds (this process plus the workers)."""
    size = len(index)
    if upto is None or isinstance(upto, (int, np.integer)):
        bound = size if upto is None else int(upto)
        uptos = [bound] * len(texts)
    else:
        uptos = [int(u) for u in upto]
        if len(uptos) != len(texts):
            raise ValueError("upto must have one entry per text")
    uptos = [max(0, min(u, size)) for u in uptos]
    queries = [index._query(t) for t in texts]
    order = sorted(range(len(texts)), key=uptos.__getitem__)
    blocks = [order[i:i + BLOCK] for i in range(0, len(order), BLOCK)]
    width = max(uptos, default=0)
    pool_codes = index._codes[:width]
    pool_lens = np.array(index._lens[:width], dtype=np.int32)
    query_codes = [q.code for q in queries]
    relabel = frequency_relabel(pool_codes, index._vocab.values())
    if relabel is not None:  # code points of tokens the pool lacks stay put: they still match nothing
        pool_codes = [c.translate(relabel) for c in pool_codes]
        query_codes = [c.translate(relabel) for c in query_codes]
    if workers is None:
        pairs = sum(uptos)
        workers = min(available_cpus(), len(blocks)) if pairs >= PARALLEL_MIN_PAIRS else 1
    workers = max(1, min(workers, len(blocks) or 1))

    def args(block):
        return ([query_codes[i] for i in block], [queries[i].n for i in block], [uptos[i] for i in block], k)

    from tqdm import tqdm

    bar = tqdm(total=len(texts), desc="similarity metadata", unit="instr", disable=not progress,
               file=sys.stderr)
    raw: list = [None] * len(texts)
    cpu = time.process_time()
    try:
        if workers == 1:
            for block in blocks:
                for i, res in zip(block, score_block(pool_codes, pool_lens, *args(block))):
                    raw[i] = res
                bar.update(len(block))
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker,
                                     initargs=(pool_codes, pool_lens)) as pool:
                futures = {pool.submit(_worker_block, *args(block)): block for block in blocks}
                for future in as_completed(futures):
                    block = futures[future]
                    results, worker_cpu = future.result()
                    cpu -= worker_cpu  # counted below as this process's: the sum over all
                    for i, res in zip(block, results):
                        raw[i] = res
                    bar.update(len(block))
    finally:
        bar.close()
    if stats is not None:
        stats.update(workers=workers, blocks=len(blocks), pairs=sum(uptos),
                     cpu_seconds=time.process_time() - cpu)
    texts_in_pool = index._texts
    out = []
    for top_idx, top_scores, mean in raw:
        top = [(int(i), float(s)) for i, s in zip(top_idx, top_scores)]
        out.append(SimilarityMetadata(top, collapse_top_k(texts_in_pool, top), mean))
    return out
