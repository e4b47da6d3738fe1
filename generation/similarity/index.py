"""An exact ROUGE-L index: the Self-Instruct near-duplicate test without scoring every pair.

Every score it reports is rouge_score's rougeL F-measure, bit for bit; only the work is cut:

* Tokens become small integers and each text a string of code points, so rapidfuzz's
  bit-parallel C++ LCS (`LCSseq`) runs on it instead of rouge_score's Python DP table.
* The near-duplicate test prunes pairs with two bounds that never exclude a pair that could pass
  (see docs/similarity.md for the proof): F <= 2*min(m,n)/(m+n) (length ratio) and
  LCS <= |multiset intersection| (token overlap). The overlap is found through an inverted
  index over token *occurrences*: the k-th "the" of a text is its own element, so multiset
  intersection is plain set intersection. A candidate needs overlap >= alpha, so it must share
  one of the query's n - alpha + 1 rarest elements (prefix filtering); probing a few more rare
  elements gives a per-document hit count that bounds its overlap from above. Only survivors
  get an LCS (postings.py; a large pool's screen, prefix-filtered on both sides: positional.py).
* Top-k and mean need every score, so they run rapidfuzz's `cdist` over the pool (cached in a
  frequency-relabelled form), in blocks, on rapidfuzz's threads or a process pool when the batch
  is big enough to pay for it; upstream's tie order is re-enacted on the top of each row only
  (see metadata.py). `top_k_bounded` scores only the entries whose overlap bound can reach the
  k-th best (topk.py).

Imports go one way, index -> batch -> metadata -> codes (see [tool.importlinter] in
pyproject.toml): the passes below read the pool through `codes.PoolView`, the public part of
this class, never its private state.
"""
from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from .batch import judge_chunk
from .codes import Query, char, check_text, occurrence_keys, unchar
from .decision import Decision
from .metadata import MeanEstimate, RelabeledPool, SimilarityMetadata, batch_metadata, collapse_top_k, metadata_from_row, top_indices
from .positional import PositionalIndex
from .postings import OccurrenceIndex, PairIndex
from .scoring import fmeasure_array
from .tokenize import tokenize
from .topk import TopKIndex

__all__ = ["Decision", "RougeLIndex"]  # Decision is re-exported: callers have always found it here


class RougeLIndex:
    """Pool of texts answering ROUGE-L questions exactly like a rouge_score loop would.

    Scores are rouge_score's `RougeScorer(["rougeL"]).score(pool_text, text)` F-measure (which is
    symmetric, see scoring.py). Index i is the i-th added text; upstream's pool order is seeds
    then machine instructions in acceptance order, so add them in that order.
    """

    # Largest token id a code point carries; past it symbols become ints (slower, still exact).
    max_char_id = 0x10FFFF - 0x800
    # Pool size from which the screen at thresholds >= the index's own reads the pair index: off
    # by default, the positional screen measured cheaper (docs/similarity.md); tests turn it on.
    pair_min_pool = 1 << 62
    # Levels below the threshold at which `top_k_bounded` searches (through a pair index of its
    # own, once the pool is big enough for one) before it scores a whole row; none by default
    # (see docs/similarity.md for why).
    top_k_levels: tuple[float, ...] = ()
    # Pools up to this size answer `top_k_bounded` with a whole row (cheaper than its bounds).
    top_k_row_max = 2048

    def __init__(self, texts: Iterable[str] = (), *, threshold: float = 0.7, inclusive: bool = False) -> None:
        self.threshold = float(threshold)
        self.inclusive = bool(inclusive)
        self._texts: list[str] = []
        self._vocab: dict[str, str | int] = {}  # token -> its symbol (a code point, or an int)
        self._occurrences = OccurrenceIndex()  # built when the screen first needs it
        self._pairs = PairIndex(self.threshold)  # the screen at the index's own threshold, likewise
        self._positional = PositionalIndex(self.threshold)  # the same, from a large pool on
        self._pair_levels: dict[float, PairIndex] = {}  # top_k_bounded's lower levels, likewise
        self._topk: TopKIndex | None = None  # top_k_bounded's bounds, built when it first needs them
        self._pool_symbols: set = set()  # every symbol some entry has
        self._first_with_code: dict = {}  # an entry's token sequence -> the first entry with it
        self._codes: list[str | list[int]] = []  # rapidfuzz-ready sequence of each entry
        self._lens = array("q")  # token count of each entry (numpy views it without copying)
        self._as_lists = False
        self._row_cache: tuple[str, int, np.ndarray] | None = None
        self._relabeled = RelabeledPool()  # metadata_batch's pool codes, kept in step with adds
        for text in texts:
            self.add(text)

    # -- pool ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._texts)

    def text(self, i: int) -> str:
        return self._texts[i]

    @property
    def texts(self) -> list[str]:
        return list(self._texts)

    def add(self, text: str) -> int:
        """Append `text` to the pool; returns its index."""
        return self._add(text, self.query(text))

    def _add(self, text: str, q: Query) -> int:
        # every token already has a symbol: the query's code is the entry's
        self._store(text, q.code if q.unknown == 0 else self.encode_new(q.tokens))
        if self._relabeled.eager:
            self._relabeled.sync(self._codes, self._vocab, self._ranking())
        return len(self._texts) - 1

    def encode_new(self, tokens: list[str]) -> str | list[int]:
        """Code of `tokens`, giving symbols to the ones the vocabulary lacks (the pool is not
        changed otherwise: `batch` encodes a chunk this way before deciding what to keep)."""
        vocab = self._vocab
        symbols = []
        for token in tokens:
            sym = vocab.get(token)
            if sym is None:
                token_id = len(vocab) + 1
                if token_id > self.max_char_id and not self._as_lists:
                    self._switch_to_lists()
                    symbols = [unchar(c) for c in symbols]
                sym = vocab[token] = token_id if self._as_lists else char(token_id)
            symbols.append(sym)
        return symbols if self._as_lists else "".join(symbols)

    def _store(self, text: str, code: str | list[int]) -> None:
        self._first_with_code.setdefault(code if isinstance(code, str) else tuple(code), len(self._texts))
        self._pool_symbols.update(code)
        self._codes.append(code)
        self._lens.append(len(code))
        self._texts.append(text)

    def pool_tokens_only(self, codes: list) -> list:
        """Each code without the tokens that no pool entry has. They cannot match, so every LCS
        against the pool is unchanged, and rapidfuzz's cost grows with the length of the query
        side (a generated instruction's rarest words are often new to the pool)."""
        present = self._pool_symbols
        if self._as_lists:
            return [[sym for sym in code if sym in present] for code in codes]
        return ["".join([ch for ch in code if ch in present]) for code in codes]

    def _ranking(self):
        """How `RelabeledPool` ranks symbols: by posting length when the postings are complete
        (cheap), else None (it counts the pool's tokens)."""
        for postings in (self._occurrences, self._positional, self._pairs):
            if postings.posted == len(self._codes):
                return postings.doc_freq
        return None

    def scoring_codes(self) -> tuple[dict[int, str] | None, list]:
        """(relabelling table, the pool's codes under it) for whole-row scoring; (None, raw
        codes) for int-list sequences. Brings the relabelled form up to the pool first."""
        table = self._relabeled.sync(self._codes, self._vocab, self._ranking())
        return table, (self._relabeled.codes if table is not None else self._codes)

    # Read-only views for `batch` and `metadata` (codes.PoolView): the index's own objects, not
    # copies, because those passes run once per round over a pool of up to 50k entries.
    @property
    def as_lists(self) -> bool:
        return self._as_lists

    @property
    def lens(self) -> array:
        return self._lens

    @property
    def first_with_code(self) -> dict:
        return self._first_with_code

    @property
    def pool_texts(self) -> Sequence[str]:
        return self._texts

    def extend(self, texts: Iterable[str]) -> list[int]:
        return [self.add(t) for t in texts]

    def track_metadata(self) -> None:
        """Keep the pool's relabelled form (see `metadata_batch`) up to date on every `add` from
        now on, for callers that ask for metadata every round: a bulk-loaded pool (a resumed
        run) then costs no catch-up in the first round."""
        self._relabeled.eager = True
        self._relabeled.sync(self._codes, self._vocab, self._ranking())

    # -- near-duplicate test --------------------------------------------------------------------
    def is_near_duplicate(self, text: str, threshold: float | None = None, inclusive: bool | None = None) -> bool:
        """True when some pool entry scores > threshold (>= when inclusive)."""
        threshold, inclusive = self._resolve(threshold, inclusive)
        if not self._texts:
            return False
        if _zero_passes(threshold, inclusive):
            return True
        return self._best(self.query(text), threshold, inclusive) is not None

    def admit(self, text: str, threshold: float | None = None, inclusive: bool | None = None) -> Decision:
        """One step of the Self-Instruct filter: add `text` unless it is a near-duplicate."""
        threshold, inclusive = self._resolve(threshold, inclusive)
        query = self.query(text)
        if self._texts:
            if _zero_passes(threshold, inclusive):
                score, nearest = self._max_from_row(query, text)
                return Decision(False, nearest, score)
            best = self._best(query, threshold, inclusive)
            if best is not None:
                return Decision(False, best[1], best[0])
        return Decision(True, self._add(text, query))

    def admit_many(self, texts: Iterable[str], threshold: float | None = None,
                   inclusive: bool | None = None) -> list[Decision]:
        """`admit` in order: each text meets the pool plus every text kept before it."""
        return [self.admit(t, threshold, inclusive) for t in texts]

    def admit_batch(self, texts: Sequence[str], *, limit: int | None = None, k: int = 10, order: str = "upstream",
                    threshold: float | None = None, inclusive: bool | None = None,
                    chunk: int = 128) -> list[tuple[Decision, SimilarityMetadata | None] | None]:
        """`admit` for each text in order, and for each one kept its `member_metadata`, from one
        row of scores per text; texts after the `limit`-th kept one are not judged (None).

        Every text meets the pool plus the texts kept before it, exactly as a loop of `admit`
        would, and the decisions, scores and nearest entries are the same. The difference is
        the work: each chunk of texts is scored against the whole pool in one `cdist` (on
        rapidfuzz's threads when it is big) and against itself, so the per-text work is one
        row of numpy instead of a screen of the inverted index, and a kept text's record fields
        come from the row its verdict already needed. That pays when most texts are kept (a
        Self-Instruct round keeps most of its candidates); the screen pays when most are
        rejected, and `admit` remains for that.
        """
        threshold, inclusive = self._resolve(threshold, inclusive)
        out: list[tuple[Decision, SimilarityMetadata | None] | None] = [None] * len(texts)
        kept = 0
        start = 0
        while start < len(texts) and (limit is None or kept < limit):
            batch = texts[start:start + max(1, chunk)]
            chunk_out = judge_chunk(self, batch, threshold, inclusive, None if limit is None else limit - kept, k, order)
            base = len(self._texts)
            for i in chunk_out.kept:
                self._store(batch[i], chunk_out.codes[i])
            if self._relabeled.eager:
                self._relabeled.sync(self._codes, self._vocab, self._ranking())
            for i, decision in enumerate(chunk_out.decisions):
                if decision is not None:
                    out[start + i] = (decision, None)
            for t, (i, (top_idx, top_scores, mean)) in enumerate(zip(chunk_out.kept, chunk_out.summaries)):
                top = list(zip(top_idx.tolist(), top_scores.tolist()))
                out[start + i] = (Decision(True, base + t), SimilarityMetadata(top, collapse_top_k(self._texts, top), mean))
            kept += len(chunk_out.kept)
            start += len(batch)
        return out

    def near_duplicates(self, texts: Iterable[str], threshold: float | None = None,
                        inclusive: bool | None = None) -> list[bool]:
        """`is_near_duplicate` for each text against the current pool (nothing is added)."""
        return [self.is_near_duplicate(t, threshold, inclusive) for t in texts]

    def max_score(self, text: str) -> tuple[float, int | None]:
        """(highest score, index of the first pool entry with it); (0.0, None) on an empty pool.

        When the answer is above the index's threshold only the screened candidates are scored;
        otherwise the whole pool is (the row is cached, so a following `top_k`/`mean_score` of
        the same text is free).
        """
        if not self._texts:
            return 0.0, None
        query = self.query(text)
        if not _zero_passes(self.threshold, self.inclusive):
            best = self._best(query, self.threshold, self.inclusive)
            if best is not None:
                return best
        return self._max_from_row(query, text)

    def nearest(self, text: str) -> tuple[str | None, float]:
        """(text of the most similar pool entry, its score); (None, 0.0) on an empty pool."""
        score, i = self.max_score(text)
        return (None if i is None else self._texts[i]), score

    # -- whole-pool scores ----------------------------------------------------------------------
    def scores(self, text: str, upto: int | None = None) -> np.ndarray:
        """Score against each of the first `upto` entries (all by default), float64, pool order."""
        return self._row(self.query(text), text, upto).copy()

    def top_k(self, text: str, k: int = 10, order: str = "upstream") -> list[tuple[int, float]]:
        """The k most similar entries, best first.

        order="upstream": upstream's `np.argsort(scores)[-k:][::-1]`, equal scores in the order
        numpy < 1.25 gave them (`argsort_legacy`, docs/similarity.md).
        order="stable": the same scores, ties by lower pool index, without a full sort.
        """
        row = self._row(self.query(text), text)
        return [(int(i), float(row[i])) for i in top_indices(row, k, order)]

    def most_similar(self, text: str, k: int = 10, order: str = "upstream") -> dict[str, float]:
        """Upstream's `most_similar` field: top-k as {text: score}, duplicate texts collapsed."""
        return collapse_top_k(self._texts, self.top_k(text, k, order))

    def mean_score(self, text: str) -> float:
        """Upstream's `avg_similarity_score`: `np.mean` over the whole pool (0.0 if empty)."""
        row = self._row(self.query(text), text)
        return float(np.mean(row)) if len(row) else 0.0

    def top_k_bounded(self, text: str, k: int = 10, *, upto: int | None = None,
                      stats: dict | None = None) -> list[tuple[int, float]]:
        """`top_k(text, k, order="stable")` against the first `upto` entries, scoring only the
        entries whose overlap bound can reach the k-th best (`topk.TopKIndex`); a whole row where
        the pool is small or the bounds would leave a large share of it (`stats["whole_rows"]`).
        Levels in `top_k_levels` (with the threshold) are tried first through the screen."""
        size = len(self._texts) if upto is None else max(0, min(int(upto), len(self._texts)))
        if size == 0 or k <= 0:
            return []
        q = self.query(text)
        for level in sorted({self.threshold, *self.top_k_levels} if self.top_k_levels else (), reverse=True):
            if not 0.0 < level < 1.0 or q.n == 0:
                continue
            pairs = self._pairs if level == self.threshold else self._pair_levels.setdefault(level, PairIndex(level))
            if level != self.threshold and not (size >= self.pair_min_pool and pairs.handles(level, q.n)):
                continue  # the single-occurrence screen that far below costs more than a row
            hits = sorted((-f, d) for f, d in self._screen(q, level, True, pairs) if f >= level and d < size)
            if len(hits) >= k:
                return [(d, -f) for f, d in hits[:k]]
        if size > self.top_k_row_max and q.n:
            self.catch_up_top_k()
            top = self._topk.top_k(q, k, size, self._codes, np.frombuffer(self._lens, dtype=np.int64),
                                   max(4096, size // 8))
            if top is not None:
                return top
        if stats is not None:
            stats["whole_rows"] = stats.get("whole_rows", 0) + 1
        row = self._row(q, text, size)
        return [(int(i), float(row[i])) for i in top_indices(row, k, "stable")]

    def catch_up_top_k(self) -> None:
        """Bring `top_k_bounded`'s bounds up to the pool now rather than in its next call (a
        caller can then time that upkeep, paid once per entry, apart from the queries)."""
        if self._topk is None:
            self._topk = TopKIndex()
        self._topk.catch_up(self._codes, np.frombuffer(self._lens, dtype=np.int64), self._as_lists)

    def mean_estimate(self, text: str, sample: int, *, upto: int | None = None, seed: int = 0) -> MeanEstimate:
        """`mean_score` against the first `upto` entries when there are at most `sample` of
        them (exact); otherwise the mean over `sample` of them drawn uniformly without
        replacement (seeded), named as an estimate with its sample size."""
        size = len(self._texts) if upto is None else max(0, min(int(upto), len(self._texts)))
        q = self.query(text)
        if size <= sample:
            row = self._row(q, text, size)
            return MeanEstimate(float(np.mean(row)) if size else 0.0, size, size, True)
        picks = np.sort(np.random.default_rng(seed).choice(size, sample, replace=False))
        lens = np.frombuffer(self._lens, dtype=np.int64)[picks]
        if q.n == 0:
            return MeanEstimate(0.0, sample, size, False)
        lcs = process.cdist([q.code], [self._codes[i] for i in picks.tolist()], scorer=LCSseq.similarity,
                            processor=None, dtype=np.int32, workers=1)[0]
        return MeanEstimate(float(np.mean(fmeasure_array(lcs, lens, q.n))), sample, size, False)

    def metadata(self, text: str, k: int = 10, order: str = "upstream") -> SimilarityMetadata:
        return metadata_from_row(self._texts, self._row(self.query(text), text), k, order)

    def metadata_batch(self, texts: Sequence[str], *, k: int = 10, upto: int | Sequence[int] | None = None,
                       workers: int | None = None, progress: bool = False,
                       stats: dict | None = None, order: str = "upstream") -> list[SimilarityMetadata]:
        """`metadata` of many texts, each against the first `upto` entries (per text or all).

        One pass of LCS per (text, entry) pair feeds both the mean and the top-k. Runs on
        rapidfuzz's threads, or a process pool, when the batch is large enough to pay for it.
        """
        return batch_metadata(self, texts, k=k, upto=upto, workers=workers, progress=progress, stats=stats,
                              order=order)

    def member_metadata(self, indices: Sequence[int], *, k: int = 10, workers: int | None = None,
                        progress: bool = False, stats: dict | None = None,
                        order: str = "upstream") -> list[SimilarityMetadata]:
        """Metadata of pool entry i against entries [0, i): what upstream recorded when it kept i."""
        return self.metadata_batch([self._texts[i] for i in indices], k=k, upto=list(indices),
                                   workers=workers, progress=progress, stats=stats, order=order)

    # -- internals ------------------------------------------------------------------------------
    def _resolve(self, threshold: float | None, inclusive: bool | None) -> tuple[float, bool]:
        return (self.threshold if threshold is None else float(threshold),
                self.inclusive if inclusive is None else bool(inclusive))

    def _switch_to_lists(self) -> None:
        """Out of code points (over a million distinct tokens): token symbols become ints."""
        vocab = self._vocab  # in place: callers may hold a reference
        for token, sym in vocab.items():
            vocab[token] = unchar(sym)
        for d in range(len(self._texts)):
            self._codes[d] = [unchar(c) for c in self._codes[d]]
        self._occurrences.to_lists()
        self._pairs, self._pair_levels, self._topk = PairIndex(self.threshold), {}, None
        self._positional = PositionalIndex(self.threshold)
        self._as_lists = True
        self._row_cache = None
        self._pool_symbols = {sym for code in self._codes for sym in code}
        self._first_with_code = {}
        for d, code in enumerate(self._codes):
            self._first_with_code.setdefault(tuple(code), d)

    def _doc_freq(self, symbol) -> int:
        return self._occurrences.doc_freq(symbol)

    def query(self, text: str, elements: bool = True) -> Query:
        """The text's code under the pool's vocabulary (unknown tokens match nothing);
        `elements=False` leaves out the inverted-index keys (only the screen reads them)."""
        check_text(text)
        tokens = tokenize(text)
        unknown_sym = 0 if self._as_lists else "\x00"  # token ids start at 1: matches nothing
        get = self._vocab.get
        symbols = [get(t, unknown_sym) for t in tokens]
        known = [sym for sym in symbols if sym != unknown_sym]
        code = symbols if self._as_lists else "".join(symbols)
        keys = occurrence_keys(known, self._as_lists) if elements else []
        return Query(tokens, code, len(symbols), keys, len(symbols) - len(known))

    def _best(self, q: Query, threshold: float, inclusive: bool) -> tuple[float, int] | None:
        """(max score, first index with it) if some entry passes, else None."""
        best = None
        for f, d in self._screen(q, threshold, inclusive, self._pairs):
            if (f >= threshold if inclusive else f > threshold) and (best is None or f > best[0]):
                best = (f, d)  # candidates come in index order: ties keep the first
        return best

    def _screen(self, q: Query, threshold: float, inclusive: bool, pairs: PairIndex) -> list[tuple[float, int]]:
        if len(self._codes) >= self.pair_min_pool and pairs.handles(threshold, q.n):
            return pairs.screen(q, threshold, self._codes, self._lens, self._as_lists)
        if len(self._codes) >= self._positional.start and self._positional.handles(threshold, q.n):
            return self._positional.screen(q, threshold, self._codes, self._lens, self._as_lists)
        return self._occurrences.screen(q, threshold, inclusive, self._codes, self._lens, self._as_lists)

    def _row(self, q: Query, text: str, upto: int | None = None) -> np.ndarray:
        size = len(self._texts) if upto is None else max(0, min(int(upto), len(self._texts)))
        cache = self._row_cache
        if cache is not None and cache[0] == text and cache[1] == size:
            return cache[2]
        if size == 0 or q.n == 0:
            row = np.zeros(size, dtype=np.float64)
        else:
            lcs = process.cdist([q.code], self._codes[:size], scorer=LCSseq.similarity,
                                processor=None, dtype=np.int32, workers=1)[0]
            row = fmeasure_array(lcs, np.array(self._lens[:size], dtype=np.int64), q.n)
        row.setflags(write=False)
        self._row_cache = (text, size, row)
        return row

    def _max_from_row(self, q: Query, text: str) -> tuple[float, int]:
        row = self._row(q, text)
        j = int(np.argmax(row))
        return float(row[j]), j


def _zero_passes(threshold: float, inclusive: bool) -> bool:
    """Whether a score of 0 already counts as a near-duplicate (then every entry is one)."""
    return threshold < 0.0 or (inclusive and threshold <= 0.0)

