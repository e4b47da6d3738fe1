"""The inverted indexes the near-duplicate screen reads: token occurrences, and pairs of them.

Kept apart from `index` because they are the part of the pool that only the single-text
near-duplicate test needs: a pool judged only in batches never builds them, and the pruning
bounds they apply (docs/similarity.md) are easier to check on their own.

`OccurrenceIndex` answers any threshold, with query-side prefix filtering over the postings of
single elements: the screen of smaller pools, and of thresholds below the index's own (a large
pool's at the index's own threshold is positional.py's). Those postings grow with the pool, so
what it reads of them is cut twice: a late probe can only be the first hit of short entries, so
of a long posting it reads only their length bands; and a candidate's unprobed frequent
elements are counted from its mask rather than assumed hit, so few candidates reach an LCS.
`PairIndex` (prefix-filtered on both sides, keyed by pairs of elements) is another screen at
thresholds at or above the index's own, off by default: the masked occurrence screen already
measured cheaper at every scale-corpus size, and the positional one cheaper still.
"""
from __future__ import annotations

import bisect
import math
from array import array

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from .codes import Query, grown, occurrence_keys, unchar
from .scoring import fmeasure, slackened

# Postings at most max(_CHEAP_MIN, pool size / _CHEAP_DIV) long are probed even beyond the minimal
# prefix: their hit counts tighten the overlap bound, so fewer LCS run. In a small pool an LCS is
# cheaper than counting, in a big one the reverse (tuned on the 50k corpus).
_CHEAP_MIN = 30
_CHEAP_DIV = 64
# Below these sizes the screen counts hits / runs LCS in plain Python, avoiding numpy call cost
# (one rapidfuzz LCS of two short texts is ~0.2 us; a numpy or cdist call costs several).
_SMALL = 128
_SMALL_LCS = 100
_DENSE = 16  # hit counts by bincount (size of the pool) while the pool is at most this many hits
# Length bands (each _BAND_RATIO times as long as the last) of the postings kept split by length.
_BAND_RATIO = 1.2
_BANDS = [0] + [int(math.log(m, _BAND_RATIO)) for m in range(1, 1024)]


def min_overlap(n: int, t: float) -> int:
    """Least LCS (hence token overlap) a text of n tokens needs with any partner to reach the
    slackened threshold t: 2m/(m+n) >= t at the shortest partner, m_lo = ceil(n*t/(2-t)), and
    then t*(m_lo+n)/2."""
    m_lo = max(1, math.ceil(n * t / (2.0 - t)))
    return max(1, math.ceil(t * (m_lo + n) / 2.0))


class OccurrenceIndex:
    """Postings of the pool's token occurrences, built lazily up to the pool's size, and each
    entry's mask of the `frequent` commonest elements.

    The masks are for the elements prefix filtering leaves unprobed, which are a query's
    commonest: the bound a candidate must meet counts them as hits unless it can tell, and
    with a mask it can (a popcount), so far fewer candidates reach an LCS.
    """

    frequent = 64  # at most 64 (a mask is one word); class attributes, so tests can lower them
    # Pool size from which masks and length bands are kept: below it their upkeep costs more
    # than they save.
    scale_min = 1 << 16
    # Postings this long are also kept split by entry length, so that a probe which can only
    # matter to short entries reads only theirs (`_by_length`).
    banded_min = 256

    def __init__(self) -> None:
        self.postings: dict = {}
        self.posted = 0  # entries [0, posted) are in the postings
        self.bit: dict = {}  # frequent element -> its bit in `masks`
        self.masks = np.zeros(0, np.uint64)
        self._picked_at = 0
        self.banded: dict = {}  # element with a long posting -> {length band: its entries of that band}

    def catch_up(self, codes: list, as_lists: bool) -> None:
        """Bring the postings up to the pool. Only the screen reads them, so a pool that is
        only ever judged in batches (whole rows, `admit_batch`) never pays for it. From
        `scale_min` entries on it keeps masks and bands too, and re-picks the frequent elements
        when the pool has grown fourfold (any choice is exact)."""
        postings, bit = self.postings, self.bit
        start = self.posted
        scaled = self._picked_at > 0
        self.masks = grown(self.masks, len(codes))
        masks, banded, banded_min = self.masks, self.banded, self.banded_min
        for d in range(start, len(codes)):
            mask = 0
            band = length_band(len(codes[d])) if scaled else 0
            for key in occurrence_keys(list(codes[d]), as_lists):
                posting = postings.get(key)
                if posting is None:
                    postings[key] = array("i", (d,))
                else:
                    posting.append(d)
                    if scaled:
                        bands = banded.get(key)
                        if bands is not None:
                            bands.setdefault(band, array("i")).append(d)
                        elif len(posting) == banded_min:
                            banded[key] = _split(posting, codes)
                if scaled:
                    b = bit.get(key)
                    if b is not None:
                        mask |= 1 << b
            if mask:
                masks[d] = mask
        self.posted = len(codes)
        if self.posted >= max(self.scale_min, 4 * self._picked_at):
            if not scaled:  # the postings long enough already, split at once
                self.banded = {key: _split(p, codes) for key, p in postings.items() if len(p) >= banded_min}
            self._repick()

    def _repick(self) -> None:
        postings = self.postings
        ranked = sorted(postings, key=lambda key: len(postings[key]), reverse=True)[:self.frequent]
        self.bit = {key: b for b, key in enumerate(ranked)}
        self.masks[:] = 0
        for key, b in self.bit.items():
            self.masks[np.frombuffer(postings[key], dtype=np.int32)] |= np.uint64(1 << b)
        self._picked_at = self.posted

    def doc_freq(self, symbol) -> int:
        """How many entries contain the token (its first-occurrence posting's length)."""
        return len(self.postings.get(symbol, ()))

    def to_lists(self) -> None:
        """Re-key the postings for int symbols (see `RougeLIndex._switch_to_lists`)."""
        self.postings = {_as_list_key(key): posting for key, posting in self.postings.items()}
        self.bit = {_as_list_key(key): b for key, b in self.bit.items()}
        self.banded = {_as_list_key(key): bands for key, bands in self.banded.items()}

    def _by_length(self, found: list, probe: int, needed: int, n: int, t: float) -> tuple[list, list[int]]:
        """The postings to merge: probe i of the `needed` (prefix filtering's own) can only be
        the first hit of entries of overlap <= L - i with the query, which caps their length
        (2*overlap >= t*(n+m)); so of a long posting only the length bands up to that cap are
        read (and none above the length ratio's cap). The extra, cheap probes are read whole.
        Also the caps of those probes, ascending: an entry of length m may be missing from as
        many probes as caps below m, and its overlap bound counts them as hits."""
        if t <= 0.0:
            return [p for p, _ in found[:probe]], []
        total = len(found)
        lo = max(0, math.ceil(n * t / (2.0 - t) - 1e-7))
        top = math.floor(n * (2.0 - t) / t + 1e-7)
        out, caps = [], []
        banded = self.banded
        for i, (posting, e) in enumerate(found[:probe]):
            bands = banded.get(e) if i < needed else None
            if bands is None:
                out.append(posting)
                continue
            cap = min(top, math.floor(2.0 * (total - i) / t - n + 1e-7))
            caps.append(cap)
            for b in range(length_band(lo), length_band(max(cap, lo)) + 1):
                part = bands.get(b)
                if part is not None:
                    out.append(part)
        caps.sort()
        return out, [c for c in caps if c < top]

    def screen(self, q: Query, threshold: float, inclusive: bool, codes: list, lens: array,
               as_lists: bool) -> list[tuple[float, int]]:
        """(exact score, index) of the entries that might pass (F >= threshold, with slack), in
        index order; every entry that passes is among them.

        Requires threshold > 0 (or == 0 and strict): then passing needs lcs >= 1.
        """
        empty: list[tuple[float, int]] = []
        n = q.n
        if n == 0 or threshold > 1.0 or (threshold == 1.0 and not inclusive):
            return empty
        # Every passing pair has 2*lcs > t*(m+n) with t slackened (docs/similarity.md).
        t = slackened(max(threshold, 0.0))
        alpha = min_overlap(n, t)  # least LCS (hence overlap) any entry needs
        if self.posted < len(codes):
            self.catch_up(codes, as_lists)
        get = self.postings.get
        if self._picked_at:  # masks and bands need each posting's element
            found = [(p, e) for e in q.elements if (p := get(e)) is not None]
            found.sort(key=_posting_len)
            lists = [p for p, _ in found]
        else:
            found = None
            lists = [p for p in map(get, q.elements) if p is not None]
            lists.sort(key=len)
        if len(lists) < alpha:  # fewer shared elements than any passing entry needs
            return empty
        # Prefix filtering: leaving at most alpha-1 elements unprobed, a passing entry must hit one.
        probe = len(lists) - alpha + 1
        cheap = max(_CHEAP_MIN, len(codes) // _CHEAP_DIV)
        while probe < len(lists) and len(lists[probe]) <= cheap:
            probe += 1
        if probe == 0:
            return empty
        unprobed = len(lists) - probe
        min_hits = max(1, alpha - unprobed)
        probed, skip_below, qmask, blind = lists[:probe], [], 0, unprobed
        if found is not None:
            probed, skip_below = self._by_length(found, probe, len(lists) - alpha + 1, n, t)
            # an entry may have been left out of as many probes as there are caps below its length
            min_hits = max(1, min_hits - len(skip_below))
            # Of the unprobed elements, the frequent ones are counted from each candidate's mask;
            # only the others are assumed hit.
            qmask, blind = mask_of([e for _, e in found[probe:]], self.bit)
        masks = self.masks
        if sum(map(len, probed)) <= _SMALL:  # plain Python beats numpy's per-call overhead here
            counts: dict[int, int] = {}
            for posting in probed:
                for d in posting:
                    counts[d] = counts.get(d, 0) + 1
            cand = sorted(d for d, h in counts.items() if h >= min_hits
                          and 2.0 * min(h + blind + (int(masks[d]) & qmask).bit_count()
                                        + bisect.bisect_left(skip_below, lens[d]), lens[d], n)
                          >= t * (lens[d] + n))
        else:
            merged = array("i")
            for posting in probed:
                merged.extend(posting)
            hit_docs = np.frombuffer(merged, dtype=np.int32)
            if len(codes) <= _DENSE * len(hit_docs):  # a count per pool entry is cheapest
                counts_arr = np.bincount(hit_docs)
                docs = np.flatnonzero(counts_arr >= min_hits)
                counts_arr = counts_arr[docs]
            else:  # a big pool: counting by sorting the hits does not grow with it
                docs, counts_arr = np.unique(hit_docs, return_counts=True)
                docs, counts_arr = docs[counts_arr >= min_hits], counts_arr[counts_arr >= min_hits]
            m = np.frombuffer(lens, dtype=np.int64)[docs]
            hits = counts_arr + blind
            if skip_below:  # by length: how many caps lie below it
                below = np.searchsorted(np.asarray(skip_below), np.arange(skip_below[-1] + 2), side="left")
                hits = hits + below[np.minimum(m, skip_below[-1] + 1)]
            if qmask:
                hits = hits + np.bitwise_count(masks[docs] & np.uint64(qmask))
            bound = np.minimum(np.minimum(hits, m), n)
            cand = docs[2.0 * bound >= t * (m + n)].tolist()
        return verify(q, cand, codes, lens, alpha, t)


def length_band(m: int) -> int:
    """The band of entry length m (each _BAND_RATIO times as long as the last)."""
    return _BANDS[m] if m < len(_BANDS) else int(math.log(m, _BAND_RATIO))


def mask_of(elements, bit: dict) -> tuple[int, int]:
    """The bits (`bit`: element -> bit) of those of `elements` that have one, and how many have none."""
    mask = others = 0
    for e in elements:
        b = bit.get(e)
        if b is None:
            others += 1
        else:
            mask |= 1 << b
    return mask, others


def _posting_len(found: tuple) -> int:
    return len(found[0])


def _split(posting: array, codes: list) -> dict:
    bands: dict = {}
    for d in posting:
        bands.setdefault(length_band(len(codes[d])), array("i")).append(d)
    return bands


def _as_list_key(key: str):
    return (unchar(key[0]), len(key)) if len(key) > 1 else unchar(key)


def verify(q: Query, cand: list[int], codes: list, lens: array, alpha: int, t: float) -> list[tuple[float, int]]:
    """Exact LCS for the surviving candidates (ascending indices); (score, index) of those whose
    real LCS still clears the slackened bound 2*lcs >= t*(m+n), in index order."""
    code, n, out = q.code, q.n, []
    if len(cand) <= _SMALL_LCS:
        similarity = LCSseq.similarity
        for d in cand:
            m_d = lens[d]
            if 2.0 * min(m_d, n) < t * (m_d + n):  # length ratio alone rules it out
                continue
            lcs = similarity(code, codes[d], score_cutoff=alpha)
            if 2.0 * lcs >= t * (m_d + n):
                out.append((fmeasure(lcs, m_d, n), d))
        return out
    lcs_arr = process.cdist([code], [codes[d] for d in cand], scorer=LCSseq.similarity,
                            processor=None, dtype=np.int32, score_cutoff=alpha, workers=1)[0]
    for j in np.flatnonzero(2.0 * lcs_arr >= t * (np.frombuffer(lens, dtype=np.int64)[cand] + n)):
        d = cand[j]
        out.append((fmeasure(int(lcs_arr[j]), lens[d], n), d))
    return out


_OFF = 1 << 30  # ranks (negative for elements first seen since the last re-rank) + this fit 31 bits


class PairIndex:
    """Entries indexed by *pairs* of elements of their rare prefix, for thresholds >= its own.

    A pair that needs overlap o >= 2 shares its two rarest common elements, and the second of
    them lies within the first |x| - o + 2 elements of each side (global order), so an entry is
    found through one of the pairs of its first |x| - alpha + 2 elements. A pair of
    medium-frequency words is far rarer than either word, so the postings read per query stay
    short where single elements' grow with the pool. Most pairs occur once: a posting is then
    the bare entry index, an array only from its second entry on. Ranks are redone when the
    pool has grown fourfold (any fixed order is exact; a fresh one keeps postings short).
    """

    rebuild_min = 1024  # class attribute: tests lower it

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.t = slackened(threshold)
        self.df: dict = {}
        self.rank: dict = {}
        self.posted = 0
        self._built_at = 0
        self._next_new = -1
        self.postings: dict[int, int | array] = {}
        self.singles: dict = {}  # element -> entries made of that one token (pairs cannot find them)
        self._prefix: dict[int, int] = {}
        self.bit: dict = {}  # as OccurrenceIndex's: masks of the commonest elements, picked at each re-rank
        self.masks = np.zeros(0, np.uint64)

    def handles(self, threshold: float, n: int) -> bool:
        """Whether a query of n tokens at `threshold` is answered exactly here: every passing
        pair then needs overlap >= 2, or (n == 1) only one-token entries can pass."""
        if threshold < self.threshold or threshold >= 1.0:
            return False
        if n == 1:
            return self.t > 2.0 / 3.0  # then 2/(1+m) > t needs m == 1
        return min_overlap(n, slackened(threshold)) >= 2

    def prefix(self, m: int) -> int:
        """How many of an entry's first elements (global order) its pairs are taken from."""
        p = self._prefix.get(m)
        if p is None:
            p = self._prefix[m] = min(m, m - min_overlap(m, self.t) + 2)
        return p

    def catch_up(self, codes: list, as_lists: bool) -> None:
        """Post the entries added since the last call; when the pool has grown fourfold since
        the last ranking, count them only and re-rank and re-post everything instead."""
        df = self.df
        get = df.get
        rebuild = len(codes) >= max(self.rebuild_min, 4 * self._built_at)
        self.masks = grown(self.masks, len(codes))
        for d in range(self.posted, len(codes)):
            keys = occurrence_keys(list(codes[d]), as_lists)
            for key in keys:
                df[key] = get(key, 0) + 1
            if not rebuild:
                self._post(d, keys)
        self.posted = len(codes)
        if rebuild:
            self._rebuild(codes, as_lists)

    def _post(self, d: int, keys: list) -> None:
        rank = self.rank
        for key in keys:
            if key not in rank:
                rank[key] = self._next_new
                self._next_new -= 1
        mask = mask_of(keys, self.bit)[0]
        if mask:
            self.masks[d] = mask
        if len(keys) == 1:
            self.singles.setdefault(keys[0], []).append(d)
            return
        vals = sorted([rank[key] + _OFF for key in keys])[:self.prefix(len(keys))]
        postings = self.postings
        setdefault = postings.setdefault
        for k in _pairs(vals):
            v = setdefault(k, d)  # most pairs are new: stored as the bare index
            if v is not d:
                if v.__class__ is int:
                    postings[k] = array("i", (v, d))
                else:
                    v.append(d)

    def _rebuild(self, codes: list, as_lists: bool) -> None:
        df = self.df
        by_df = sorted(df, key=df.__getitem__)
        self.rank = {key: r for r, key in enumerate(by_df)}
        self.bit = {key: b for b, key in enumerate(reversed(by_df[max(0, len(by_df) - OccurrenceIndex.frequent):]))}
        self.masks[:] = 0
        self._next_new = -1
        self.postings, self.singles = {}, {}
        for d in range(self.posted):
            self._post(d, occurrence_keys(list(codes[d]), as_lists))
        self._built_at = self.posted

    def doc_freq(self, symbol) -> int:
        return self.df.get(symbol, 0)

    def screen(self, q: Query, threshold: float, codes: list, lens: array,
               as_lists: bool) -> list[tuple[float, int]]:
        """As `OccurrenceIndex.screen`, for a query that `handles` accepts."""
        n = q.n
        t = slackened(threshold)
        if self.posted < len(codes):
            self.catch_up(codes, as_lists)
        if n == 1:
            docs = self.singles.get(q.elements[0], []) if q.elements else []
            return verify(q, docs, codes, lens, 1, t)
        alpha = min_overlap(n, t)
        rank = self.rank
        vals = sorted([rank[e] + _OFF for e in q.elements if e in rank])
        if len(vals) < alpha:
            return []
        singles, arrays = array("i"), []
        for v in map(self.postings.get, _pairs(vals[:len(vals) - alpha + 2])):
            if v is not None:
                if v.__class__ is int:
                    singles.append(v)
                else:
                    arrays.append(v)
        for v in arrays:
            singles.extend(v)
        if len(singles) <= _SMALL:
            cand = sorted(set(singles))
        else:
            cand = np.unique(np.frombuffer(singles, dtype=np.int32))
            # what the masks tell of the overlap: the frequent elements exactly, the rest assumed hit
            qmask, blind = mask_of(q.elements, self.bit)
            m = np.frombuffer(lens, dtype=np.int64)[cand]
            shared = np.bitwise_count(self.masks[cand] & np.uint64(qmask)) + blind
            cand = cand[2.0 * np.minimum(np.minimum(shared, m), n) >= t * (m + n)].tolist()
        return verify(q, cand, codes, lens, alpha, t)


def _pairs(vals: list[int]) -> list[int]:
    """Pair keys of ascending ranks (offset to be non-negative): (rarer << 31) | other."""
    return [(a << 31) | b for i, a in enumerate(vals) for b in vals[i + 1:]]
