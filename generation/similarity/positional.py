"""The near-duplicate screen of a large pool at the index's own threshold: prefix filtering on
both sides, with positions.

The occurrence screen (postings.py) posts every entry under every element, so what a query
merges grows with the pool, and that made the filter's total cost grow faster than the stream.
Here an entry is posted only under the elements of its own prefix (its rarest, in one global
order), each with how many of the entry's rare elements it leaves from there on; a query reads
the postings of its own prefix only, and of a long posting only the length bands that a first
common element at its position can still reach. The rarest element a passing pair shares lies in both prefixes, and how much overlap the
pair can reach is bounded by what follows it on each side, with the frequent elements counted
exactly from masks (docs/similarity.md has the proofs).

The order is by document frequency, fixed between rankings (at the start and at each fourfold
growth, as the pair index): any fixed order is exact, a fresh one keeps prefixes rare. Elements
first seen after a ranking rank rarest, so the frequent elements (the masks' bits) stay the
order's tail, which the bound relies on.
"""
from __future__ import annotations

import bisect
import math
from array import array

import numpy as np

from .codes import Query, grown, occurrence_keys
from .postings import length_band, min_overlap, verify
from .scoring import slackened

_POS = 0xFFFF  # a posting's two 16-bit counts (see `_post`) and query positions are at most this
_SMALL = 128  # up to this many postings read, plain Python beats numpy's per-call cost


class PositionalIndex:
    """Entries posted under their prefix elements, for queries at thresholds >= its own."""

    start = 1 << 16  # pool size from which the index serves (and first ranks); tests lower these
    frequent = 64  # at most 64 (a mask is one word)
    banded_min = 256  # postings this long are kept split by entry length instead
    # Queries longer than this are left to the occurrence screen; entries' counts clip at it
    # (safe, since a query's own count never exceeds it).
    max_position = _POS

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.t = slackened(threshold)
        self.df: dict = {}
        self.rank: dict = {}  # element -> its place in the order (rarest first)
        self.tail_from = 0  # ranks from here on are the frequent elements; bit = rank - tail_from
        self._next_new = -1
        self.postings: dict[int, array] = {}  # rank -> postings, while shorter than banded_min
        self.banded: dict[int, dict[int, array]] = {}  # rank -> {length band: postings}
        self.entries = np.zeros((0, 2), np.uint64)  # entry -> (bits of its frequent elements, its length)
        self.posted = 0
        self._built_at = 0
        self._prefix: dict[int, int] = {}

    def handles(self, threshold: float, n: int) -> bool:
        """Whether a query of n tokens at `threshold` is answered exactly here: entries' prefixes
        are as long as the index's own threshold needs, and positions must fit their bits."""
        return self.threshold <= threshold < 1.0 and 0 < n <= self.max_position

    def doc_freq(self, symbol) -> int:
        return self.df.get(symbol, 0)

    def prefix(self, m: int) -> int:
        """How many of an entry's first elements it is posted under."""
        p = self._prefix.get(m)
        if p is None:
            p = self._prefix[m] = m - min_overlap(m, self.t) + 1
        return p

    def catch_up(self, codes: list, lens: array, as_lists: bool) -> None:
        """Post the entries added since the last call; at fourfold growth since the last
        ranking (and at the start), count them only, then rank and post everything anew."""
        df = self.df
        get = df.get
        rank_all = len(codes) >= max(self.start, 4 * self._built_at)
        self.entries = grown(self.entries, len(codes))
        old = self.posted
        new = [occurrence_keys(list(codes[d]), as_lists) for d in range(old, len(codes))]
        for keys in new:
            for key in keys:
                df[key] = get(key, 0) + 1
        self.posted = len(codes)
        if rank_all:
            order = sorted(df, key=df.__getitem__)
            self.rank = {key: r for r, key in enumerate(order)}
            self.tail_from = max(0, len(order) - self.frequent)
            self._next_new = -1
            self.postings, self.banded = {}, {}
            for d in range(old):
                self._post(d, occurrence_keys(list(codes[d]), as_lists), lens)
            self._built_at = self.posted
        for d, keys in enumerate(new, old):
            self._post(d, keys, lens)

    def _post(self, d: int, keys: list, lens: array) -> None:
        rank = self.rank
        ranks = [rank.get(key) for key in keys]
        if None in ranks:  # elements first seen since the ranking: rarest of all
            for i, key in enumerate(keys):
                if ranks[i] is None:
                    ranks[i] = rank[key] = self._next_new
                    self._next_new -= 1
        ranks.sort()
        m = len(ranks)
        if m == 0:
            return
        tail_from = self.tail_from
        rare = bisect.bisect_left(ranks, tail_from)
        mask = 0
        for r in ranks[rare:]:
            mask |= 1 << (r - tail_from)
        self.entries[d] = (mask, m)
        # A posting is (entry << 32) | ((_POS - s) << 16), s the entry's rare elements from this
        # position on: sorted, an entry's rows then start at its rarest element read, which has
        # the most. The low 16 bits are for the query's position, at merge time.
        postings, banded, band, clip = self.postings, self.banded, length_band(m), self.max_position
        for j, r in enumerate(ranks[:self.prefix(m)]):
            v = (d << 32) | ((_POS - min(max(rare - j, 0), clip)) << 16)
            bands = banded.get(r)
            if bands is not None:
                part = bands.get(band)
                if part is None:
                    bands[band] = array("q", (v,))
                else:
                    part.append(v)
                continue
            posting = postings.get(r)
            if posting is None:
                postings[r] = array("q", (v,))
            else:
                posting.append(v)
                if len(posting) >= self.banded_min:
                    bands = banded[r] = {}
                    for w in posting:
                        bands.setdefault(length_band(lens[w >> 32]), array("q")).append(w)
                    del postings[r]

    def screen(self, q: Query, threshold: float, codes: list, lens: array,
               as_lists: bool) -> list[tuple[float, int]]:
        """As `OccurrenceIndex.screen`, for a query that `handles` accepts."""
        n = q.n
        t = slackened(threshold)
        if self.posted < len(codes):
            self.catch_up(codes, lens, as_lists)
        ranks = sorted([r for r in map(self.rank.get, q.elements) if r is not None])
        alpha = min_overlap(n, t)
        known = len(ranks)
        probe = known - alpha + 1  # the query's prefix
        if probe <= 0:
            return []
        tail_from = self.tail_from
        rare = bisect.bisect_left(ranks, tail_from)
        qmask = 0
        for r in ranks[rare:]:
            qmask |= 1 << (r - tail_from)
        lo = max(1, math.ceil(n * t / (2.0 - t) - 1e-7))  # the length ratio's range of entries
        top = math.floor(n * (2.0 - t) / t + 1e-7)
        postings, banded = self.postings, self.banded
        reads, at = [], []  # postings read, and the query position each was read at (ascending)
        for i in range(probe):
            bands = banded.get(ranks[i])
            if bands is None:
                posting = postings.get(ranks[i])
                if posting is not None:
                    reads.append(posting)
                    at.append(i)
                continue
            # a first common element here leaves at most known - i shared: that caps the length
            cap = min(top, math.floor(2.0 * (known - i) / t - n + 1e-7))
            for b in range(length_band(lo), length_band(cap) + 1) if cap >= lo else ():
                part = bands.get(b)
                if part is not None:
                    reads.append(part)
                    at.append(i)
        sizes = list(map(len, reads))
        if sum(sizes) <= _SMALL:
            cand = self._bounded_small(reads, at, rare, qmask, n, t)
        else:
            cand = self._bounded(reads, at, sizes, rare, qmask, n, t)
        return verify(q, cand, codes, lens, alpha, t)

    def _bounded_small(self, reads: list, at: list, rare: int, qmask: int,
                       n: int, t: float) -> list[int]:
        first: dict[int, tuple[int, int]] = {}
        for i, part in zip(at, reads):
            for v in part:
                d = v >> 32
                if d not in first:  # read in query order: the first sighting is the rarest common
                    first[d] = (i, _POS - ((v >> 16) & _POS))
        entries, cand = self.entries, []
        for d, (i, s) in first.items():
            mask, m = entries[d].tolist()
            bound = (mask & qmask).bit_count() + max(0, min(rare - i, s))
            if 2.0 * min(bound, m, n) >= t * (m + n):
                cand.append(d)
        cand.sort()
        return cand

    def _bounded(self, reads: list, at: list, sizes: list, rare: int, qmask: int,
                 n: int, t: float) -> list[int]:
        """The entries read whose overlap bound can pass, ascending. Each is bounded from its
        rarest common element (the smallest position, in the entry and so in the query): the
        frequent elements it shares, by mask, plus the rare ones from there on either side
        (the entry's count is in the posting; the query's is `rare` less the position)."""
        merged = array("q")
        for part in reads:
            merged.extend(part)
        hits = np.frombuffer(merged, dtype=np.int64) | np.repeat(np.asarray(at, dtype=np.int64), sizes)
        hits.sort()  # by entry, then its position, then the query's
        entry = hits >> 32
        firsts = np.flatnonzero(np.concatenate(([True], entry[1:] != entry[:-1])))
        docs, v = entry[firsts], hits[firsts]
        rows = np.take(self.entries, docs, axis=0)  # one gather: the mask and the length side by side
        m = rows[:, 1].astype(np.int64)
        after = np.minimum(rare - (v & _POS), _POS - ((v >> 16) & _POS))
        bound = np.bitwise_count(rows[:, 0] & np.uint64(qmask)) + np.maximum(after, 0)
        bound = np.minimum(np.minimum(bound, m), n)
        return docs[2.0 * bound >= t * (m + n)].tolist()
