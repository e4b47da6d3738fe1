"""Upstream's per-instruction similarity metadata: `most_similar` and `avg_similarity_score`.

Upstream, for each kept instruction, scores it against the whole pool and records

    {all_instructions[i]: rouge_scores[i] for i in np.argsort(rouge_scores)[-10:][::-1]}
    float(np.mean(rouge_scores))

Both need every score, so there is nothing to prune: the work is an all-pairs LCS, done here by
rapidfuzz's `cdist` over integer-token strings in blocks of queries (the pool's conversion is paid
once per block, not once per pair), spread over a process pool when the batch is big.

Tie order: numpy's default argsort is an unstable sort, so which of several equal scores comes
first depends on the numpy version and the CPU (numpy 1.25 and later send it to SIMD sorting
networks on x86). The released batches were made with the introsort of numpy before 1.25, which
`argsort_legacy` re-enacts in our own code, so "upstream" order is that one on every machine and
numpy version; means use `np.mean` (pairwise summation) on the float64 row, as upstream did.

There are two orders (`order=`): "upstream" (numpy < 1.25's argsort, re-enacted) and "stable"
(the default profile's): the same k best scores, ties broken by the lower pool index, found by a
partial selection (`stable_top_indices`). Both see the same row, so
the scores, the set of top-k scores and the mean are identical; only the order of equal scores
(and hence which of several equal last-place entries make the cut) can differ.
"""
from __future__ import annotations

import itertools
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from .argsort_legacy import legacy_argsort_tail
from .codes import PoolView
from .scoring import fmeasure_row

# Below this many (query, pool entry) pairs a process pool costs more than it saves: starting
# workers and shipping them the pool is ~0.5 s at 50k entries, and cdist does ~30-40 M
# pairs/s/core here. Between THREAD_MIN_PAIRS and it, rapidfuzz's own threads run the LCS
# (no start-up, no copies); the per-row selection then stays in this process. A pipeline round
# (hundreds of kept instructions against a 50k pool) is in the thread range.
PARALLEL_MIN_PAIRS = 300_000_000
THREAD_MIN_PAIRS = 2_000_000
BLOCK = 128  # queries per cdist call: amortises pool conversion, keeps the int32 block ~25 MB at 50k
ORDERS = ("upstream", "stable")
_CHUNK = 64  # stable_top_indices: a block maximum per this many scores bounds the k-th best


@dataclass(frozen=True)
class MeanEstimate:
    """`avg_similarity_score` where the whole pool may be too big to score: exact when
    `sample_size == pool_size`, else the mean of a uniform sample, never passed off as exact."""

    value: float
    sample_size: int
    pool_size: int
    exact: bool


@dataclass(frozen=True)
class SimilarityMetadata:
    top_k: list[tuple[int, float]]  # (pool index, score), upstream's order
    most_similar: dict[str, float]  # upstream's field: top_k keyed by text
    avg_similarity_score: float  # upstream's field: np.mean over the pool (0.0 for an empty pool)


def upstream_top_indices(row: np.ndarray, k: int) -> np.ndarray:
    """`np.argsort(row)[-k:][::-1]` as upstream's numpy (< 1.25) gave it; k <= 0 gives nothing."""
    return legacy_argsort_tail(row, k)[::-1]


def _kth_group_maximum(rows: np.ndarray, k: int) -> np.ndarray:
    """Per row (width > k * _CHUNK): the k-th largest maximum of disjoint groups of _CHUNK
    entries, a lower bound on the row's k-th largest entry. The groups are strided across the
    row (any disjoint groups give the bound), so their maxima are one elementwise pass down
    the columns."""
    r, w = rows.shape
    full = w - w % _CHUNK
    maxima = rows[:, :full].reshape(r, _CHUNK, -1).max(axis=1)
    if full < w:
        maxima = np.concatenate((maxima, rows[:, full:].max(axis=1, keepdims=True)), axis=1)
    return np.partition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k]


def stable_top_indices(row: np.ndarray, k: int) -> np.ndarray:
    """The k best entries by (-score, index): highest score first, equal scores by pool index.

    Exact and independent of numpy's sort internals. Without a full sort: the k-th largest of the
    group maxima (disjoint groups of _CHUNK) is a lower bound on the k-th largest score (k distinct
    blocks each hold a score at least that high), so only scores at or above it are candidates,
    typically a few dozen of 50k; they are ordered with a stable sort, whose output among equal
    keys is in index order by definition.
    """
    n = len(row)
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if n > k * _CHUNK:
        cand = np.flatnonzero(row >= _kth_group_maximum(row[None, :], k)[0])
    else:
        cand = np.arange(n)
    # flatnonzero/arange give ascending indices, so a stable sort on -score breaks ties by index
    return cand[np.argsort(-row[cand], kind="stable")[:k]]


def stable_top_rows(rows: np.ndarray, k: int) -> list[np.ndarray]:
    """`stable_top_indices` of every row of a matrix at once, negative entries counting as
    absent (rows of different lengths padded with -1). One pass of numpy per step for the
    whole matrix instead of a dozen small calls per row, which is what a row of a few thousand
    scores costs; the same block-maximum bound keeps the sort to a few dozen entries a row."""
    r, w = rows.shape
    if k <= 0 or r == 0 or w == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(r)]
    if w > k * _CHUNK:
        mask = rows >= np.maximum(_kth_group_maximum(rows, k), 0.0)[:, None]
    else:
        mask = rows >= 0.0
    ri, ci = np.nonzero(mask)  # row-major: indices ascend within a row
    order = np.lexsort((ci, -rows[ri, ci], ri))  # by row, then score descending, then index
    ri, ci = ri[order], ci[order]
    starts = np.searchsorted(ri, np.arange(r + 1))
    return [ci[starts[t]:min(starts[t] + k, starts[t + 1])] for t in range(r)]


def top_indices(row: np.ndarray, k: int, order: str = "upstream") -> np.ndarray:
    if order == "upstream":
        return upstream_top_indices(row, k)
    if order == "stable":
        return stable_top_indices(row, k)
    raise ValueError(f"unknown top-k order {order!r}; expected one of {ORDERS}")


def collapse_top_k(texts: Sequence[str], top: Iterable[tuple[int, float]]) -> dict[str, float]:
    """Upstream builds a dict from the top-k: a text that occurs twice in the pool keeps its
    first position and the later value (the same score, since the text is the same)."""
    return {texts[i]: s for i, s in top}


def _mean(row: np.ndarray) -> float:
    return float(np.mean(row)) if len(row) else 0.0


def row_summary(row: np.ndarray, k: int, order: str = "upstream") -> tuple[np.ndarray, np.ndarray, float]:
    """(top-k indices, their scores, mean) of one row of scores."""
    top = top_indices(row, k, order)
    return top, row[top], _mean(row)


def metadata_from_row(texts: Sequence[str], row: np.ndarray, k: int, order: str = "upstream") -> SimilarityMetadata:
    top = [(int(i), float(row[i])) for i in top_indices(row, k, order)]
    return SimilarityMetadata(top, collapse_top_k(texts, top), _mean(row))


def score_block(pool_codes: list, pool_lens: np.ndarray, codes: list, lens: Sequence[int],
                uptos: Sequence[int], k: int, order: str = "upstream",
                threads: int = 1) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(top-k indices, their scores, mean) for each query against its pool prefix.

    One cdist over the widest prefix; row r is then cut to its own prefix `uptos[r]` (entries
    added after that query was accepted are not part of its record), and the mean and the
    top-k both come from that one row of scores.
    """
    width = max(uptos) if len(uptos) else 0
    if width == 0:
        return [(np.zeros(0, np.int64), np.zeros(0), 0.0) for _ in codes]
    lcs = process.cdist(codes, pool_codes[:width], scorer=LCSseq.similarity, processor=None,
                        dtype=np.int32, workers=threads)
    table_width = int(pool_lens[:width].max()) + 1
    out = []
    for r, (n, u) in enumerate(zip(lens, uptos)):
        row = fmeasure_row(lcs[r, :u], pool_lens[:u], n, table_width) if n else np.zeros(u)
        out.append(row_summary(row, k, order))
    return out


_WORKER: dict = {}


def _init_worker(pool_codes: list, pool_lens: np.ndarray) -> None:
    _WORKER["codes"], _WORKER["lens"] = pool_codes, pool_lens


def _worker_block(codes: list, lens: list[int], uptos: list[int], k: int, order: str):
    start = time.process_time()
    out = score_block(_WORKER["codes"], _WORKER["lens"], codes, lens, uptos, k, order)
    return out, time.process_time() - start


def frequency_relabel(pool_codes: list, symbols: Iterable[str],
                      doc_freq: "Callable[[str], int] | None" = None) -> dict[int, str] | None:
    """A `str.translate` table giving the most frequent tokens the smallest code points.

    LCS is unchanged by any one-to-one relabelling, but rapidfuzz looks characters below 256 up
    in a flat array and the rest in a hash map, so putting the common tokens there makes cdist
    about 20% faster on the bench corpus. Every symbol of the vocabulary gets a new code point
    (the pool's by frequency, then the rest), so the map stays one-to-one on queries too; the
    unknown-token symbol (0) is never a target. None for int-list sequences. `doc_freq(symbol)`,
    if given (the index's posting length), ranks by document frequency instead of counting every
    token of the pool: nearly the same order, ten times cheaper.
    """
    if not pool_codes or not isinstance(pool_codes[0], str):
        return None
    table: dict[int, str] = {}
    if doc_freq is None:
        ranked = (ch for ch, _ in Counter("".join(pool_codes)).most_common())
    else:
        ranked, symbols = iter(sorted(symbols, key=doc_freq, reverse=True)), ()
    for ch in itertools.chain(ranked, symbols):
        if ord(ch) not in table:
            table[ord(ch)] = _rank_char(len(table) + 1)
    return table


def _rank_char(rank: int) -> str:
    return chr(rank + 0x800 if rank >= 0xD800 else rank)


class RelabeledPool:
    """The pool's codes under `frequency_relabel`, kept in step with a growing index.

    Relabelling 50k entries costs ~0.2 s, as much as scoring a few hundred queries, so it is
    done once and then only new entries are translated. Tokens first seen after the table was
    built get the next free code points (the map stays one-to-one, so LCS stays exact); the
    table is rebuilt by frequency when the pool has doubled, which keeps the cost amortised O(1)
    per entry while the common tokens keep the small code points rapidfuzz looks up fastest.
    With `eager` set (a caller that will ask for metadata every round) the index syncs it on
    every add, so no round pays for catching up on a pool loaded in bulk (e.g. on resume).
    """

    def __init__(self) -> None:
        self.table: dict[int, str] | None = None
        self.codes: list[str] = []
        self.eager = False
        self._symbols = 0  # vocabulary symbols the table covers
        self._built_at = 0

    def sync(self, pool_codes: list, vocab: dict,
             doc_freq: "Callable[[str], int] | None" = None) -> dict[int, str] | None:
        """Bring the cache up to `pool_codes`; returns the table (None: int-list sequences)."""
        if not pool_codes or not isinstance(pool_codes[0], str):
            self.table, self.codes = None, []
            return None
        if self.table is None or len(pool_codes) >= 2 * self._built_at:
            self.table = frequency_relabel(pool_codes, vocab.values(), doc_freq)
            self.codes = [c.translate(self.table) for c in pool_codes]
            self._symbols, self._built_at = len(vocab), len(pool_codes)
            return self.table
        table = self.table
        if len(vocab) > self._symbols:  # new symbols are the vocabulary's last (insertion order)
            new = list(itertools.islice(reversed(vocab.values()), len(vocab) - self._symbols))
            for sym in reversed(new):
                if ord(sym) not in table:
                    table[ord(sym)] = _rank_char(len(table) + 1)
            self._symbols = len(vocab)
        if len(self.codes) < len(pool_codes):
            self.codes.extend(c.translate(table) for c in pool_codes[len(self.codes):])
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


def batch_metadata(index: PoolView, texts: Sequence[str], *, k: int = 10,
                   upto: int | Sequence[int] | None = None, workers: int | None = None,
                   progress: bool = False, stats: dict | None = None,
                   order: str = "upstream") -> list[SimilarityMetadata]:
    """See `RougeLIndex.metadata_batch`; `stats`, if given, receives workers, threads, blocks,
    pairs and cpu_seconds (this process plus the workers).

    workers=None picks: one process with rapidfuzz threads for mid-size batches, a process pool
    for huge ones; an explicit workers > 1 asks for a process pool of that size.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown top-k order {order!r}; expected one of {ORDERS}")
    size = len(index)
    if upto is None or isinstance(upto, (int, np.integer)):
        bound = size if upto is None else int(upto)
        uptos = [bound] * len(texts)
    else:
        uptos = [int(u) for u in upto]
        if len(uptos) != len(texts):
            raise ValueError("upto must have one entry per text")
    uptos = [max(0, min(u, size)) for u in uptos]
    queries = [index.query(t) for t in texts]
    order_rows = sorted(range(len(texts)), key=uptos.__getitem__)
    blocks = [order_rows[i:i + BLOCK] for i in range(0, len(order_rows), BLOCK)]
    width = max(uptos, default=0)
    pool_lens = np.array(index.lens[:width], dtype=np.int32)
    query_codes = [q.code for q in queries]
    relabel, pool_codes = index.scoring_codes() if width else (None, [])
    if relabel is not None:  # code points of tokens the pool lacks stay put: they still match nothing
        query_codes = [c.translate(relabel) for c in query_codes]
    pairs = sum(uptos)
    threads = 1
    if workers is None:
        workers = min(available_cpus(), len(blocks)) if pairs >= PARALLEL_MIN_PAIRS else 1
        if workers <= 1 and pairs >= THREAD_MIN_PAIRS:
            threads = available_cpus()
    workers = max(1, min(workers, len(blocks) or 1))

    def args(block):
        return ([query_codes[i] for i in block], [queries[i].n for i in block], [uptos[i] for i in block], k, order)

    from tqdm import tqdm

    bar = tqdm(total=len(texts), desc="similarity metadata", unit="instr", disable=not progress,
               file=sys.stderr)
    raw: list = [None] * len(texts)
    cpu = time.process_time()
    try:
        if workers == 1:
            for block in blocks:
                for i, res in zip(block, score_block(pool_codes, pool_lens, *args(block), threads=threads)):
                    raw[i] = res
                bar.update(len(block))
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker,
                                     initargs=(pool_codes[:width], pool_lens)) as pool:
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
        stats.update(workers=workers, threads=threads, blocks=len(blocks), pairs=pairs,
                     cpu_seconds=time.process_time() - cpu)
    texts_in_pool = index.pool_texts
    out = []
    for top_idx, top_scores, mean in raw:
        top = [(int(i), float(s)) for i, s in zip(top_idx, top_scores)]
        out.append(SimilarityMetadata(top, collapse_top_k(texts_in_pool, top), mean))
    return out
