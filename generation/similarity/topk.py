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
a machine word: the query's frequent bitsets are counted into "holds at least j of them"
bitsets, each met with the length band whose need is j (`le` holds "length <= M" bitsets).
Entries are scored exactly (rapidfuzz, as a whole row would). The best bounds among the
sparse part give a first k-th best score s, a floor on the final one; every entry whose bound
reaches s (with slack) is a candidate, its bound exact (the frequent-only ones by a popcount of
their masks). Candidates are scored best bound first, in growing batches, until the next bound
falls below the k-th best so far: the bound is loosest on long queries full of common words,
where most candidates have a bound near s and a score far below it. Every entry left out then
has a bound, hence a score, strictly below the k-th best, so ties (which go to the lower index)
are never lost. Where the k-th best is 0, the entries sharing nothing with the query score
exactly 0 and fill the rest by index. Anything that would score a large share of the pool
falls back to the whole row, which is exact too.
"""
from __future__ import annotations

import math
from array import array
from operator import itemgetter

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from .codes import Query, grown, occurrence_keys
from .scoring import fmeasure_array, slackened

_GUESSES = (0.5, 0.3, 0.2, 0.1)  # levels tried when the sparse part has fewer than k entries
_CHUNK = 1 << 16  # entries per bitset rewrite (a multiple of 64)


class TopKIndex:
    """Postings of rare elements and bit planes of frequent ones, built lazily up to the pool."""

    # class attributes, so tests can lower them
    rebuild_min = 1024
    frequent = 64  # elements kept as bit planes (at most 64: one machine word of mask per entry)
    lengths = 64  # "length <= M" bitsets for M < lengths; longer bands use every entry
    first_batch = 256  # candidates scored before the first stopping check, then 4x as many a batch

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
        """The masks and bitsets with room for `size` entries (capacity by doubling)."""
        self.masks = grown(self.masks, size)
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
        sparse_bound = 2.0 * sparse_ov / (n + lens[sparse_ids])

        def score(ids: np.ndarray) -> np.ndarray:
            picked = itemgetter(*ids.tolist())(codes) if len(ids) > 1 else [codes[int(d)] for d in ids]
            lcs = process.cdist([q.code], picked, scorer=LCSseq.similarity,
                                processor=None, dtype=np.int32, workers=1)[0]
            return fmeasure_array(lcs, lens[ids], n)

        # round 1: the best bounds of the sparse part give a first k-th best score (a floor on
        # the final one, since those are real scores)
        kth = None
        first = min(len(sparse_bound), 3 * k)
        if first >= k:
            best = sparse_ids[np.argpartition(-sparse_bound, first - 1)[:first]]
            got = score(best)
            kth = float(np.partition(got, first - k)[first - k])
        planes = None
        guesses = iter(_GUESSES)
        level = 1.0
        while True:
            level = next((g for g in guesses if g < level), 0.0) if kth is None else kth
            if level <= 0.0:
                return self._with_zeros(sparse_ids, qmask, k, size, score, max_scored)
            t = slackened(level)
            keep = sparse_bound >= t
            cand, bound = sparse_ids[keep], sparse_bound[keep]
            if qmask:
                if planes is None:  # the first level is the highest, so the deepest needed
                    planes = _thermometer(self.planes, qmask, _depth(qmask.bit_count(), self.lengths, n, t), size)
                dense = _passing(planes, self.le, n, t, size)
                dense = dense[~np.isin(dense, cand, assume_unique=True)]  # sparse ones are exact already
                f = np.bitwise_count(self.masks[dense] & np.uint64(qmask)).astype(np.int64)
                cand = np.concatenate([cand, dense])
                bound = np.concatenate([bound, 2.0 * f / (n + lens[dense])])
            top, kth, too_many = self._best_first(cand, bound, k, level, score, max_scored)
            if top is not None or too_many:  # too many: a whole row is cheaper
                return top
            # every entry reaching `level` was scored and the k-th best fell below it (the next
            # level, a real score) or fewer than k reached it (the next guess below)

    def _best_first(self, cand: np.ndarray, bound: np.ndarray, k: int, level: float, score,
                    max_scored: int) -> tuple[list | None, float | None, bool]:
        """Score `cand` by descending bound, in growing batches, until the next bound is below
        the k-th best score so far (and that score reaches `level`, below which `cand` holds
        every entry): whatever is left then scores strictly below the k-th best and can neither
        beat nor tie it. Returns (top-k, k-th best, False); (None, the k-th best or None below k
        entries, False) where the k-th best of the whole of `cand` is below `level`; and
        (None, None, True) where that would take scoring more than `max_scored` entries."""
        order = np.argsort(-bound, kind="stable")
        ids_parts, score_parts = [], []
        done, batch, kth = 0, self.first_batch, None
        while done < len(order):
            if done >= max_scored:
                return None, None, True
            take = order[done:done + min(batch, max_scored - done)]
            done += len(take)
            ids_parts.append(cand[take])
            score_parts.append(score(cand[take]))
            batch *= 4
            scored = np.concatenate(score_parts) if len(score_parts) > 1 else score_parts[0]
            if len(scored) < k:
                continue
            kth = float(np.partition(scored, len(scored) - k)[len(scored) - k])
            if kth >= level and (done == len(order) or bound[order[done]] < slackened(kth)):
                ids = np.concatenate(ids_parts)
                best = np.lexsort((ids, -scored))[:k]  # by score, then by the lower index
                return list(zip(ids[best].tolist(), scored[best].tolist())), kth, False
        return None, (kth if len(order) >= k else None), False

    def _with_zeros(self, sparse_ids: np.ndarray, qmask: int, k: int, size: int, score,
                    max_scored: int) -> list | None:
        """The top-k where the k-th best is 0: every entry sharing an element with the query
        (LCS >= 1, so a positive score) by score, then the lowest-index entries sharing none
        (LCS 0, a score of exactly 0), as a whole row's stable order has them."""
        hit = sparse_ids
        if qmask:
            words = -(-size // 64)
            any_frequent = np.bitwise_or.reduce(self.planes[_bits(qmask), :words], axis=0)
            hit = np.union1d(hit, _ids_of(any_frequent, size))
        if len(hit) > max_scored:
            return None
        scores = score(hit) if len(hit) else np.zeros(0)
        best = np.lexsort((hit, -scores))[:k]
        top = list(zip(hit[best].tolist(), scores[best].tolist()))
        if len(top) < k:
            free = np.ones(min(size, len(hit) + k), bool)
            free[hit[hit < len(free)]] = False
            top += [(int(d), 0.0) for d in np.flatnonzero(free)[:k - len(top)]]
        return top

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


def _depth(top: int, lengths: int, n: int, t: float) -> int:
    """The most shared frequent elements `_passing` can ask about at level t: past the count
    that lets every length band pass, a higher count decides nothing more."""
    return max(1, min(top, math.ceil(t * (n + lengths) / 2.0)))


def _thermometer(planes: np.ndarray, qmask: int, depth: int, size: int) -> list[np.ndarray]:
    """`at[j - 1]`: bitset over entries [0, size) (whole words; bits past `size` are dropped
    where ids are read) of those holding at least j of the query's frequent elements, j <=
    depth. Adding an element x raises each level from the one below it (at[j] |= at[j-1] & x,
    highest first), so a query's few frequent elements cost a few whole-pool word operations
    each, and any "count >= j" is then one bitset."""
    words = -(-size // 64)
    at: list[np.ndarray] = []
    scratch = np.empty(words, np.uint64)
    for added, b in enumerate(_bits(qmask)):
        x = planes[b, :words]
        if len(at) < depth:
            at.append(np.zeros(words, np.uint64))
        for j in range(min(added, depth - 1), 0, -1):
            np.bitwise_and(at[j - 1], x, out=scratch)
            at[j] |= scratch
        at[0] |= x
    return at


def _passing(at: list[np.ndarray], le: np.ndarray, n: int, t: float, size: int) -> np.ndarray:
    """Entries whose frequent overlap f alone reaches the bound: 2f >= t*(n+m), i.e. f >= j for
    the least j with m <= 2j/t - n. Ascending ids."""
    words, lengths = len(at[0]), le.shape[0]
    out = np.zeros(words, np.uint64)
    prev = 0  # lengths <= prev are already served by a smaller j
    for j in range(1, len(at) + 1):
        longest = math.floor(2.0 * j / t - n + 1e-7)  # slack: a superset is exact
        if prev >= lengths:
            break  # a smaller j already served every length
        if longest < 1 or longest <= prev:
            continue
        if longest < lengths:
            out |= at[j - 1] & le[longest, :words]
            prev = longest
        else:
            out |= at[j - 1]
            prev = lengths
    return _ids_of(out, size)


def _bits(mask: int) -> list[int]:
    return [b for b in range(mask.bit_length()) if mask >> b & 1]


def _ids_of(bitset: np.ndarray, size: int) -> np.ndarray:
    """Ascending ids of the set bits (below `size`)."""
    nz = np.flatnonzero(bitset)
    if not len(nz):
        return np.zeros(0, np.int64)
    at = np.flatnonzero(np.unpackbits(bitset[nz].view(np.uint8), bitorder="little"))
    ids = nz[at >> 6] * 64 + (at & 63)
    return ids[ids < size]
