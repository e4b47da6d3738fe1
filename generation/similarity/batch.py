"""`RougeLIndex.admit_batch`'s unit of work: a chunk of candidates against the pool before it.

Whole rows instead of the inverted index's screen: a Self-Instruct round keeps most of its
candidates, and every kept one needs its whole row for the record fields anyway, so scoring the
chunk against the pool in one `cdist` and deciding from the rows costs less than screening each
candidate and scoring the kept ones again (docs/similarity.md, "A round at once").
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from .codes import PoolView, unchar
from .decision import Decision
from .metadata import THREAD_MIN_PAIRS, available_cpus, row_summary, stable_top_rows
from .scoring import fmeasure_array, fmeasure_row

# Pools up to this size are scored as one chunk x pool matrix; bigger ones a row at a time (a
# matrix of 128 x 50k is 50 MB that a row-wise pass never leaves cache for).
MATRIX_MAX = 4096


@dataclass
class Chunk:
    """What `judge_chunk` decided: rejections by position (None: kept or not judged), the
    positions kept in order, every text's code, and each kept text's (top-k indices, their
    scores, mean) against the pool as it was when it was kept."""

    decisions: list[Decision | None]
    kept: list[int]
    codes: list
    summaries: list[tuple[np.ndarray, np.ndarray, float]]


def matrix_summaries(pool: np.ndarray, own: np.ndarray, kept: list[int], k: int,
                     order: str) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Record fields of a chunk's kept texts from its score matrices: row t is kept text t
    against the pool, then against kept texts 0..t-1; the rest of the row is absent (-1)."""
    if not kept:
        return []
    idx = np.array(kept, dtype=np.int64)
    base, nk = pool.shape[1], len(kept)
    rows = np.empty((nk, base + nk))
    rows[:, :base] = pool[idx]
    rows[:, base:] = np.where(np.tri(nk, k=-1, dtype=bool), own[np.ix_(idx, idx)], -1.0)
    if order != "stable":  # upstream's argsort: on each row exactly as long as it was
        return [row_summary(rows[t, :base + t], k, order) for t in range(nk)]
    out = []
    for t, top in enumerate(stable_top_rows(rows, k)):
        row = rows[t, :base + t]
        out.append((top, row[top], float(np.mean(row)) if len(row) else 0.0))
    return out


def judge_chunk(index: PoolView, batch: Sequence[str], threshold: float, inclusive: bool, limit: int | None,
                k: int, order: str) -> Chunk:
    """One chunk of `RougeLIndex.admit_batch`, deciding in order but adding nothing to the pool."""
    queries = [index.query(t, elements=False) for t in batch]
    # New tokens get symbols now, so texts of one chunk that share them match each other
    codes = [q.code if q.unknown == 0 else index.encode_new(q.tokens) for q in queries]
    if index.as_lists:  # the vocabulary outgrew code points mid-chunk
        codes = [[unchar(c) for c in code] if isinstance(code, str) else code for code in codes]
    base, c = len(index), len(batch)
    n = np.array([q.n for q in queries], dtype=np.int64)
    own_lcs = process.cdist(codes, codes, scorer=LCSseq.similarity, processor=None, dtype=np.int32, workers=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        own = fmeasure_array(own_lcs, n[None, :], n[:, None])  # own[i, j]: text i against text j
    own_rows = own.tolist()
    # A text whose tokens are exactly a pool entry's scores 1.0 against it, the highest any
    # score can be, and the first such entry is the nearest: when 1.0 is a near-duplicate
    # (any threshold below 1) it is rejected without scoring a row (models often repeat an
    # in-context instruction word for word).
    copies: dict[int, int] = {}
    if base and (threshold < 1.0 or (inclusive and threshold <= 1.0)):
        first = index.first_with_code
        for i, code in enumerate(codes):
            d = first.get(code if isinstance(code, str) else tuple(code)) if n[i] else None
            if d is not None and d < base:
                copies[i] = d
    scored = [i for i in range(c) if i not in copies]  # rows of `lcs`, in order
    row_of = {i: r for r, i in enumerate(scored)}
    if base:
        lens = np.array(index.lens[:base], dtype=np.int32)
        relabel, pool_codes = index.scoring_codes()
        qcodes = index.pool_tokens_only([codes[i] for i in scored])
        if relabel is not None:
            qcodes = [code.translate(relabel) for code in qcodes]
        threads = available_cpus() if base * len(scored) >= THREAD_MIN_PAIRS else 1
        lcs = process.cdist(qcodes, pool_codes[:base], scorer=LCSseq.similarity, processor=None,
                            dtype=np.int32, workers=threads)
        width = int(lens.max()) + 1
    # A small pool is scored as one matrix (a few numpy calls for the whole chunk); a big
    # one a row at a time into one buffer, which stays in cache and allocates nothing.
    matrix = base <= MATRIX_MAX
    if matrix:
        pool = np.zeros((c, base))
        for i in scored if base else ():
            if n[i]:
                pool[i] = fmeasure_row(lcs[row_of[i]], lens, int(n[i]), width)
        pool_arg = pool.argmax(axis=1) if base else None
    else:
        buf, scratch = np.empty(base + c), np.empty(base, dtype=np.int32)
    decisions: list[Decision | None] = [None] * c
    kept: list[int] = []
    summaries: list[tuple[np.ndarray, np.ndarray, float]] = []
    for i in range(c):
        if limit is not None and len(kept) >= limit:
            break
        if i in copies:
            decisions[i] = Decision(False, copies[i], 1.0)
            continue
        if not base:
            best, nearest = -1.0, 0
        elif matrix:
            nearest = int(pool_arg[i])
            best = float(pool[i, nearest])
        else:
            if n[i]:
                fmeasure_row(lcs[row_of[i]], lens, int(n[i]), width, out=buf[:base], scratch=scratch)
            else:
                buf[:base] = 0.0
            nearest = int(buf[:base].argmax())
            best = float(buf[nearest])
        own_row = own_rows[i]
        for t, j in enumerate(kept):  # entries after the pool: the chunk's kept texts, in order
            if own_row[j] > best:  # strictly: ties keep the first (lower) index
                best, nearest = own_row[j], base + t
        if best >= 0 and (best >= threshold if inclusive else best > threshold):
            decisions[i] = Decision(False, nearest, best)
            continue
        if not matrix:  # its row: the pool, then the chunk's texts kept before it
            t = len(kept)
            buf[base:base + t] = own[i, kept]
            summaries.append(row_summary(buf[:base + t], k, order))
        kept.append(i)
    if matrix:
        summaries = matrix_summaries(pool, own, kept, k, order)
    return Chunk(decisions, kept, codes, summaries)
