"""The inverted index over token occurrences and the near-duplicate screen that reads it.

Kept apart from `index` because it is the one part of the pool that only the single-text
near-duplicate test needs: a pool judged only in batches never builds it, and the pruning
bounds it applies (docs/similarity.md) are easier to check on their own.
"""
from __future__ import annotations

import math
from array import array

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from .codes import Query, occurrence_keys, unchar
from .scoring import fmeasure

# Relative slack on every pruning bound. Computed F-measures are within a few ulps (~1e-15
# relative) of 2*lcs/(m+n); pruning a pair only when even this much slack cannot save it keeps
# the filter exact whatever the last-bit rounding of the real score.
_EPS = 1e-9
# Postings at most max(_CHEAP_MIN, pool size / _CHEAP_DIV) long are probed even beyond the minimal
# prefix: their hit counts tighten the overlap bound, so fewer LCS run. In a small pool an LCS is
# cheaper than counting, in a big one the reverse (tuned on the 50k corpus).
_CHEAP_MIN = 30
_CHEAP_DIV = 64
# Below these sizes the screen counts hits / runs LCS in plain Python, avoiding numpy call cost
# (one rapidfuzz LCS of two short texts is ~0.2 us; a numpy or cdist call costs several).
_SMALL = 128
_SMALL_LCS = 100


class OccurrenceIndex:
    """Postings of the pool's token occurrences, built lazily up to the pool's size."""

    def __init__(self) -> None:
        self.postings: dict = {}
        self.posted = 0  # entries [0, posted) are in the postings

    def catch_up(self, codes: list, as_lists: bool) -> None:
        """Bring the postings up to the pool. Only the screen reads them, so a pool that is
        only ever judged in batches (whole rows, `admit_batch`) never pays for it."""
        postings = self.postings
        for d in range(self.posted, len(codes)):
            for key in occurrence_keys(list(codes[d]), as_lists):
                posting = postings.get(key)
                if posting is None:
                    postings[key] = array("i", (d,))
                else:
                    posting.append(d)
        self.posted = len(codes)

    def doc_freq(self, symbol) -> int:
        """How many entries contain the token (its first-occurrence posting's length)."""
        return len(self.postings.get(symbol, ()))

    def to_lists(self) -> None:
        """Re-key the postings for int symbols (see `RougeLIndex._switch_to_lists`)."""
        self.postings = {(unchar(key[0]), len(key)) if len(key) > 1 else unchar(key): posting
                         for key, posting in self.postings.items()}

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
        # Every passing pair has 2*lcs > t*(m+n) with t lowered by _EPS (docs/similarity.md).
        t = max(threshold, 0.0) * (1.0 - _EPS)
        # Shortest entry that can pass: 2m/(m+n) >= t  <=>  m >= n*t/(2-t).
        m_lo = max(1, math.ceil(n * t / (2.0 - t)))
        # Least LCS (hence overlap) any entry needs: t*(m+n)/2 at m = m_lo.
        alpha = max(1, math.ceil(t * (m_lo + n) / 2.0))
        if self.posted < len(codes):
            self.catch_up(codes, as_lists)
        get = self.postings.get
        lists = [p for p in map(get, q.elements) if p is not None]
        if len(lists) < alpha:  # fewer shared elements than any passing entry needs
            return empty
        # Prefix filtering: leaving at most alpha-1 elements unprobed, a passing entry must hit one.
        lists.sort(key=len)
        probe = len(lists) - alpha + 1
        cheap = max(_CHEAP_MIN, len(codes) // _CHEAP_DIV)
        while probe < len(lists) and len(lists[probe]) <= cheap:
            probe += 1
        if probe == 0:
            return empty
        unprobed = len(lists) - probe
        min_hits = max(1, alpha - unprobed)
        probed = lists[:probe]
        if sum(map(len, probed)) <= _SMALL:  # plain Python beats numpy's per-call overhead here
            counts: dict[int, int] = {}
            for posting in probed:
                for d in posting:
                    counts[d] = counts.get(d, 0) + 1
            cand = sorted(d for d, h in counts.items() if h >= min_hits
                          and 2.0 * min(h + unprobed, lens[d], n) >= t * (lens[d] + n))
        else:
            merged = array("i")
            for posting in probed:
                merged.extend(posting)
            counts_arr = np.bincount(np.frombuffer(merged, dtype=np.int32))
            docs = np.flatnonzero(counts_arr >= min_hits)
            m = np.frombuffer(lens, dtype=np.int64)[docs]
            bound = np.minimum(np.minimum(counts_arr[docs] + unprobed, m), n)
            cand = docs[2.0 * bound >= t * (m + n)].tolist()
        # Exact LCS for the survivors; keep those whose real LCS still clears the same bound.
        code, out = q.code, []
        if len(cand) <= _SMALL_LCS:
            similarity = LCSseq.similarity
            for d in cand:
                m_d = lens[d]
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
