"""The exact top-k of one text against a big pool without scoring the whole pool.

A kept instruction's k-th best score is low (well below 0.5 on the scale corpus), where the
near-duplicate screen's prefix filtering reads nearly every posting, and what decides which
entries come close is mostly shared *frequent* words. So the pool's token occurrences (the k-th
"the" of a text is its own element, as in postings.py, so multiset overlap is a count of shared
elements) are split in two:

* the `frequent` commonest elements are bit planes: one bitset over the pool per element, plus
  each entry's own 64-bit mask of them;
* every other element has a posting (array of entry ids, ascending).

LCS <= multiset overlap, so 2*overlap/(n+m) bounds an entry's F-measure from above. For the
entries sharing a rare element with the query the overlap is counted exactly from the postings
plus the entry's mask (sparse, a few thousand entries). Every other entry's overlap is its
frequent overlap, and "overlap >= need(m)" is evaluated for the whole pool at once, 64 entries
a machine word: the query's frequent bitsets are summed by a bit-sliced adder and compared
against the need of each length band (`le` holds "length <= M" bitsets). Entries are scored
exactly (rapidfuzz, as a whole row would) in two rounds: the best bounds among the sparse part
give a k-th best score s, then every entry whose bound reaches s (with slack) is scored. Every
entry left out then has a bound, hence a score, strictly below the k-th best, so ties (which go
to the lower index) are never lost. Anything that would score a large share of the pool falls
back to the whole row, which is exact too.
"""
from __future__ import annotations

import math
from array import array

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from .codes import Query, occurrence_keys
from .scoring import fmeasure_array

_EPS = 1e-9  # relative slack on every bound, as in postings.py
_GUESSES = (0.5, 0.3, 0.2, 0.1)  # levels tried when the sparse part has fewer than k entries
_CHUNK = 1 << 16  # entries per bitset rewrite (a multiple of 64)


class TopKIndex:
    """Postings of rare elements and bit planes of frequent ones, built lazily up to the pool."""

    # class attributes, so tests can lower them
    rebuild_min = 1024
    frequent = 64  # elements kept as bit planes (at most 64: one machine word of mask per entry)
    lengths = 64  # "length <= M" bitsets for M < lengths; longer bands use every entry

    def __init__(self) -> None:
        self.df: dict = {}
        self.bit: dict = {}  # frequent element -> its bit
        self.postings: dict = {}  # rare element -> array("i") of entry ids
        self.masks = np.zeros(0, np.uint64)  # entry -> bits of its frequent elements
        self.planes = np.zeros((self.frequent, 0), np.uint64)  # frequent bit -> bitset over entries
        self.le = np.zeros((self.lengths, 0), np.uint64)  # M -> bitset of entries of length <= M
        self.posted = 0
        self._built_at = 0

    # -- upkeep ----------------------------------------------------------------------------------
    def catch_up(self, codes: list, lens: np.ndarray, as_lists: bool) -> None:
        """Post the entries added since the last call; re-pick the frequent elements and re-post
        everything when the pool has grown fourfold (any choice is exact, a fresh one prunes).
        A re-post derives each entry's elements again rather than holding the pool's at once."""
        n_codes = len(codes)
        if self.posted >= n_codes:
            return
        df = self.df
        get = df.get
        start = self.posted
        rebuild = n_codes >= max(self.rebuild_min, 4 * self._built_at)
        keys_of = []
        for d in range(start, n_codes):
            keys = occurrence_keys(list(codes[d]), as_lists)
            for key in keys:
                df[key] = get(key, 0) + 1
            if not rebuild:
                keys_of.append(keys)
        self.posted = n_codes
        self._grow(n_codes)
        if rebuild:
            ranked = sorted(df, key=df.__getitem__, reverse=True)[:self.frequent]
            self.bit = {key: b for b, key in enumerate(ranked)}
            self.postings = {}
            self._built_at = n_codes
            self._post(0, (occurrence_keys(list(codes[d]), as_lists) for d in range(n_codes)))
            start = 0
        else:
            self._post(start, keys_of)
        for lo in range((start // 64) * 64, n_codes, _CHUNK):  # bounded scratch at any pool size
            self._planes_from(lo, min(n_codes, lo + _CHUNK), lens)

    def _grow(self, size: int) -> None:
        """Capacity by doubling, so a stream of small catch-ups copies each entry O(1) times."""
        if size > len(self.masks):
            cap = max(1024, 2 * len(self.masks), size)
            self.masks = np.concatenate([self.masks, np.zeros(cap - len(self.masks), np.uint64)])
        words = -(-len(self.masks) // 64)
        if words > self.planes.shape[1]:
            self.planes = _widen(self.planes, words)
            self.le = _widen(self.le, words)

    def _post(self, start: int, keys_of: list) -> None:
        bit, postings, masks = self.bit, self.postings, self.masks
        for d, keys in enumerate(keys_of, start):
            mask = 0
            for key in keys:
                b = bit.get(key)
                if b is None:
                    posting = postings.get(key)
                    if posting is None:
                        postings[key] = array("i", (d,))
                    else:
                        posting.append(d)
                else:
                    mask |= 1 << b
            masks[d] = mask

    def _planes_from(self, lo: int, hi: int, lens: np.ndarray) -> None:
        """Rewrite the bitset words of entries [lo, hi) (lo a multiple of 64)."""
        width = -(-(hi - lo) // 64) * 64
        bits = np.zeros((width, 64), np.uint8)
        bits[:hi - lo] = np.unpackbits(self.masks[lo:hi].view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
        self.planes[:, lo // 64:lo // 64 + width // 64] = _pack(bits.T[:self.frequent])
        m = np.full(width, np.iinfo(np.int64).max)
        m[:hi - lo] = lens[lo:hi]
        self.le[:, lo // 64:lo // 64 + width // 64] = _pack(m[None, :] <= np.arange(self.lengths)[:, None])

    # -- query -----------------------------------------------------------------------------------
    def top_k(self, q: Query, k: int, size: int, codes: list, lens: np.ndarray,
              max_scored: int) -> list[tuple[int, float]] | None:
        """The k best (index, score) of entries [0, size) (caught up to at least `size`), ties
        by lower index; None where the bounds would leave more than `max_scored` entries to
        score (the caller scores a row)."""
        n = q.n
        lens = lens[:size]
        bit = self.bit
        qmask, rare = 0, []
        for e in q.elements:
            b = bit.get(e)
            if b is None:
                p = self.postings.get(e)
                if p is not None and p[0] < size:
                    rare.append(p)
            else:
                qmask |= 1 << b
        sparse_ids, sparse_ov = self._sparse(rare, qmask, size)
        sparse_m = lens[sparse_ids]
        ids_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []

        def score(ids: np.ndarray) -> float | None:
            """Score `ids` in place of what was scored before (each round's candidates hold every
            entry that can still matter); the k-th best score (None below k entries)."""
            if len(ids) < k:
                return None  # the next round's candidates hold these
            lcs = process.cdist([q.code], [codes[d] for d in ids.tolist()], scorer=LCSseq.similarity,
                                processor=None, dtype=np.int32, workers=1)[0]
            ids_parts[:] = [ids]
            score_parts[:] = [fmeasure_array(lcs, lens[ids], n)]
            return float(np.partition(score_parts[0], len(ids) - k)[len(ids) - k])

        # round 1: the best bounds of the sparse part, for a first k-th best score
        bound = 2.0 * sparse_ov / (n + sparse_m)
        first = min(len(bound), 3 * k)
        kth = score(np.sort(sparse_ids[np.argpartition(-bound, first - 1)[:first]])) if first else None
        planes = None
        guesses = iter(_GUESSES)
        while True:
            level = next(guesses, 0.0) if kth is None else kth
            if level <= 0.0:
                return None
            t = level * (1.0 - _EPS)
            cand = sparse_ids[2.0 * sparse_ov >= t * (n + sparse_m)]
            if qmask:
                if planes is None:
                    planes = _count(self.planes, qmask, size)
                cand = np.union1d(cand, _passing(planes, qmask.bit_count(), self.le, n, t, size))
            if len(cand) > max_scored:
                return None
            kth = score(cand)
            if kth is not None and kth >= level:
                break  # every entry not scored has a bound below `level`, the k-th best or less
        ids, scores = ids_parts[0], score_parts[0]
        best = np.lexsort((ids, -scores))[:k]  # by score, then by the lower index
        return list(zip(ids[best].tolist(), scores[best].tolist()))

    def _sparse(self, rare: list, qmask: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(entries sharing a rare element with the query, their exact multiset overlap)."""
        if not rare:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        parts = []
        for p in rare:
            ids = np.frombuffer(p, dtype=np.int32)
            parts.append(ids if ids[-1] < size else ids[:np.searchsorted(ids, size)])
        # one sort of the few thousand hits beats a scatter into a pool-sized counter
        ids, hits = np.unique(np.concatenate(parts), return_counts=True)
        ids = ids.astype(np.int64)
        if qmask:
            hits += np.bitwise_count(self.masks[ids] & np.uint64(qmask))
        return ids, hits


def _widen(rows: np.ndarray, words: int) -> np.ndarray:
    out = np.zeros((rows.shape[0], max(words, 2 * rows.shape[1])), np.uint64)
    out[:, :rows.shape[1]] = rows
    return out


def _pack(bits: np.ndarray) -> np.ndarray:
    """Rows of 0/1 per entry (a multiple of 64 wide) -> rows of little-endian 64-bit words."""
    return np.ascontiguousarray(np.packbits(bits, axis=1, bitorder="little")).view(np.uint64)


def _count(planes: np.ndarray, qmask: int, size: int) -> list[np.ndarray]:
    """Bit-sliced sum of the query's frequent bitsets over entries [0, size): plane i holds bit i
    of each entry's frequent overlap."""
    words = -(-size // 64)
    out: list[np.ndarray] = []
    added = 0
    for b in range(qmask.bit_length()):
        if not qmask >> b & 1:
            continue
        carry = planes[b, :words]
        added += 1
        for p in out:
            nxt = p & carry
            p ^= carry
            carry = nxt
        if added.bit_length() > len(out):
            out.append(carry.copy())
    if size % 64:
        for p in out:
            p[-1] &= np.uint64((1 << (size % 64)) - 1)
    return out


def _passing(planes: list[np.ndarray], top: int, le: np.ndarray, n: int, t: float, size: int) -> np.ndarray:
    """Entries whose frequent overlap f alone reaches the bound: 2f >= t*(n+m), i.e. f >= j for
    the least j with m <= 2j/t - n. Ascending ids."""
    words, lengths = len(planes[0]), le.shape[0]  # `top`: the query's frequent elements, the most f can be
    out = np.zeros(words, np.uint64)
    prev = 0  # lengths <= prev are already served by a smaller j
    for j in range(1, top + 1):
        longest = math.floor(2.0 * j / t - n + 1e-7)  # slack: a superset is exact
        if prev >= lengths:
            break  # a smaller j already served every length
        if longest < 1 or longest <= prev:
            continue
        ge = _at_least(planes, j)
        if longest < lengths:
            ge &= le[longest, :words]
            prev = longest
        else:
            prev = lengths
        out |= ge
    nz = np.flatnonzero(out)
    if not len(nz):
        return np.zeros(0, np.int64)
    bits = np.unpackbits(out[nz].view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    rows, cols = np.nonzero(bits)
    ids = nz[rows] * 64 + cols
    return ids[ids < size]


def _at_least(planes: list[np.ndarray], j: int) -> np.ndarray:
    """Bitset of the entries whose bit-sliced count is >= j (MSB-first comparison)."""
    gt = np.zeros_like(planes[0])
    eq = None
    for i in range(len(planes) - 1, -1, -1):
        p = planes[i]
        if j >> i & 1:
            eq = p.copy() if eq is None else eq & p
        else:
            gt |= p if eq is None else eq & p
            if eq is not None:
                eq &= ~p
            else:
                eq = ~p
    return gt | eq
