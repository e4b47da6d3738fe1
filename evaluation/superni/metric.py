"""The SuperNI metric: exact match and ROUGE-L, as Tk-Instruct's `compute_metrics.py` and the
official `eval/automatic/evaluation.py` compute them, but fast.

Numbers are identical to the reference loop (per instance: max over references of
`rouge_scorer.RougeScorer(['rougeL'], use_stemmer=True).score(target=ref, prediction=pred)
.fmeasure` and of SQuAD-normalised equality without article removal; micro-average; x100;
rounded to 4 decimals). Speed comes from three places that do not change any number:
tokenisation (with the Porter stemmer, the hot spot) is cached per unique string, stems per
unique word, and the LCS length uses the bit-parallel algorithm (Allison-Dix / Hyyrö) over
Python integers instead of an O(n*m) table of lists. The F-measure is computed with the same
float operations in the same order as rouge_score, and sums run in reference order, so results
match to the last bit.
"""
from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from selfinstruct.generation.errors import InputError

from .data import category_key

_PUNCT_TABLE = str.maketrans("", "", string.punctuation)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_VALID_TOKEN = re.compile(r"^[a-z0-9]+$")
DEFAULT_XLINGUAL_TOKENIZER = "gpt2"


def normalize_answer(text: str) -> str:
    """SQuAD normalisation minus article removal: lowercase, drop ASCII punctuation, squeeze spaces."""
    return " ".join(text.lower().translate(_PUNCT_TABLE).split())


def exact_match(prediction: str, reference: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(reference)


class _Interner:
    """Maps token strings to small ints so LCS compares ints and masks key on ints."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def __call__(self, tokens: Iterable[str]) -> tuple[int, ...]:
        ids = self._ids
        return tuple(ids.setdefault(t, len(ids)) for t in tokens)


class DefaultRougeTokenizer:
    """rouge_score's default tokenizer with `use_stemmer=True`, memoised.

    Same steps as `rouge_score.tokenize.tokenize`: lowercase, non-[a-z0-9] to spaces, split,
    Porter-stem tokens longer than 3 characters (NLTK's `PorterStemmer()`, as rouge_score
    builds it), keep tokens that are still [a-z0-9]+.
    """

    def __init__(self, use_stemmer: bool = True) -> None:
        from nltk.stem import porter

        self._stem = porter.PorterStemmer().stem if use_stemmer else None
        self._stems: dict[str, str] = {}
        self._cache: dict[str, tuple[int, ...]] = {}
        self._intern = _Interner()

    def _stem_word(self, word: str) -> str:
        stem = self._stems.get(word)
        if stem is None:
            stem = self._stems[word] = self._stem(word)
        return stem

    def tokenize_text(self, text: str) -> list[str]:
        tokens = _NON_ALNUM.sub(" ", text.lower()).split()
        if self._stem is not None:
            tokens = [self._stem_word(t) if len(t) > 3 else t for t in tokens]
        return [t for t in tokens if _VALID_TOKEN.match(t)]

    def __call__(self, text: str) -> tuple[int, ...]:
        ids = self._cache.get(text)
        if ids is None:
            ids = self._cache[text] = self._intern(self.tokenize_text(text))
        return ids


class XlingualRougeTokenizer:
    """The cross-lingual track's tokenizer: GPT-2 byte-level BPE tokens with the leading "Ġ"
    stripped; no lowercasing, no stemming, empty tokens kept (rouge_score does not filter the
    output of a custom tokenizer). Loaded lazily so the default track never needs it."""

    def __init__(self, name_or_path: str = DEFAULT_XLINGUAL_TOKENIZER) -> None:
        self.name_or_path = name_or_path
        self._tok = None
        self._cache: dict[str, tuple[int, ...]] = {}
        self._intern = _Interner()

    def _load(self):
        if self._tok is None:
            try:
                from transformers import AutoTokenizer

                self._tok = AutoTokenizer.from_pretrained(self.name_or_path)
            except Exception as exc:  # noqa: BLE001 - any failure means the same thing to the user
                raise InputError(
                    f"cannot load the xlingual tokenizer {self.name_or_path!r} ({exc.__class__.__name__}); "
                    "it is the Hugging Face 'gpt2' tokenizer: download it once and pass its local folder",
                    field="xlingual_tokenizer") from None
        return self._tok

    def tokenize_text(self, text: str) -> list[str]:
        return [t.lstrip("Ġ") for t in self._load().tokenize(text)]

    def __call__(self, text: str) -> tuple[int, ...]:
        ids = self._cache.get(text)
        if ids is None:
            ids = self._cache[text] = self._intern(self.tokenize_text(text))
        return ids


def lcs_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common subsequence, bit-parallel over `a` (Hyyrö 2004)."""
    if not a or not b:
        return 0
    masks: dict[int, int] = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for tok in b:
        u = v & masks.get(tok, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l_fmeasure(target: Sequence[int], prediction: Sequence[int]) -> float:
    """rouge_score's `_score_lcs(...).fmeasure`, same float operations in the same order."""
    if not target or not prediction:
        return 0.0
    lcs = lcs_length(target, prediction)
    precision = lcs / len(prediction)
    recall = lcs / len(target)
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


@dataclass(frozen=True)
class Reference:
    id: str
    references: tuple[str, ...]
    task_id: str | None = None
    task_category: str | None = None
    track: str = "default"


@dataclass
class GroupScore:
    exact_match: float
    rougeL: float
    count: int

    def as_dict(self) -> dict:
        return {"exact_match": self.exact_match, "rougeL": self.rougeL, "count": self.count}


@dataclass
class SuperNIScores:
    exact_match: float
    rougeL: float
    count: int
    missing: int
    per_task: dict[str, GroupScore] = field(default_factory=dict)
    per_category: dict[str, GroupScore] = field(default_factory=dict)
    per_instance: list[tuple[str, float, float]] = field(default_factory=list)  # (id, em, rougeL)

    def as_dict(self) -> dict:
        return {
            "exact_match": self.exact_match,
            "rougeL": self.rougeL,
            "count": self.count,
            "missing": self.missing,
            "per_category": {k: v.as_dict() for k, v in self.per_category.items()},
            "per_task": {k: v.as_dict() for k, v in self.per_task.items()},
        }


def _average(em_sum: float, rl_sum: float, n: int) -> GroupScore:
    if n == 0:
        return GroupScore(0.0, 0.0, 0)
    return GroupScore(round(100.0 * em_sum / n, 4), round(100.0 * rl_sum / n, 4), n)


class Scorer:
    """Scores predictions against references; keeps its caches across calls."""

    def __init__(self, *, xlingual: bool = False, xlingual_tokenizer: str = DEFAULT_XLINGUAL_TOKENIZER) -> None:
        self.xlingual = xlingual
        self._default = DefaultRougeTokenizer(use_stemmer=True)
        self._xlingual = XlingualRougeTokenizer(xlingual_tokenizer)

    def _tokenizer(self, track: str):
        return self._xlingual if (self.xlingual or track == "xlingual") else self._default

    def instance(self, prediction: str, references: Sequence[str], track: str = "default") -> tuple[float, float]:
        """(exact match, ROUGE-L) for one instance, each the max over its references."""
        if not references:
            return 0.0, 0.0
        tok = self._tokenizer(track)
        pred_norm = normalize_answer(prediction)
        pred_tokens = tok(prediction)
        em = max(float(pred_norm == normalize_answer(r)) for r in references)
        rl = max(rouge_l_fmeasure(tok(r), pred_tokens) for r in references)
        return em, rl

    def score(self, predictions: Mapping[str, str], references: Sequence[Reference]) -> SuperNIScores:
        """Micro-averages over `references` (in their order); an id without a prediction is
        scored as the empty string, as the official leaderboard script does, and counted."""
        em_total = rl_total = 0.0
        groups_task: dict[str, list] = {}
        groups_cat: dict[str, list] = {}
        missing = 0
        per_instance = []
        for ref in references:
            pred = predictions.get(ref.id)
            if pred is None:
                missing += 1
                pred = ""
            em, rl = self.instance(pred, ref.references, ref.track)
            em_total += em
            rl_total += rl
            per_instance.append((ref.id, em, rl))
            if ref.task_id:
                g = groups_task.setdefault(ref.task_id, [0.0, 0.0, 0])
                g[0] += em; g[1] += rl; g[2] += 1  # noqa: E702
            if ref.task_category:
                g = groups_cat.setdefault(category_key(ref.task_category), [0.0, 0.0, 0])
                g[0] += em; g[1] += rl; g[2] += 1  # noqa: E702
        overall = _average(em_total, rl_total, len(references))
        return SuperNIScores(
            exact_match=overall.exact_match, rougeL=overall.rougeL, count=len(references), missing=missing,
            per_task={k: _average(*v) for k, v in sorted(groups_task.items())},
            per_category={k: _average(*v) for k, v in sorted(groups_cat.items())},
            per_instance=per_instance,
        )


def compute_metrics(predictions: Sequence[str], references: Sequence[Sequence[str]], *,
                    xlingual: bool = False, xlingual_tokenizer: str = DEFAULT_XLINGUAL_TOKENIZER) -> dict:
    """Positional form (as Tk-Instruct's `compute_metrics`): {"exact_match", "rougeL"}."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    refs = [Reference(str(i), tuple(r)) for i, r in enumerate(references)]
    preds = {str(i): p for i, p in enumerate(predictions)}
    result = Scorer(xlingual=xlingual, xlingual_tokenizer=xlingual_tokenizer).score(preds, refs)
    return {"exact_match": result.exact_match, "rougeL": result.rougeL}
