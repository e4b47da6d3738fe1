"""Our own decoding loop for decoder-only models, used instead of `model.generate`.

Why not `generate`: on a CPU the prompts of one call often share a long head (a SuperNI task
definition, the Self-Instruct demonstrations) and finish at very different lengths. `generate`
prefills every row's copy of that head, keeps computing rows that already ended until the
longest one ends, and starts nothing new until the whole batch is done. This loop
- prefills a head the admitted rows share once (and keeps it for the next rows that start with
  it), copies its key/value cache to every row, then prefills only the rows' own tails; the
  padding sits between head and tail, hidden by the padding mask, and position ids continue
  from the head, so each row sees exactly its own prompt;
- drops a row from the batch (and its cache) the step it finishes, and admits waiting rows into
  the free slots (continuous batching): their fresh cache is left-padded to the running batch's
  length and joined to it, so the batch stays near `capacity` rows while there is work;
- samples each row with its own `torch.Generator` and counts penalties over each row's own
  generated tokens, so a seeded request gives the same text whatever shares its batch.
"""
from __future__ import annotations

import copy
import inspect
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

#: A shared head shorter than this is not worth a separate prefill call.
MIN_SHARED_PREFIX = 8


@dataclass
class DecodeRow:
    ids: list[int]
    stops: tuple[str, ...] = ()
    generator: torch.Generator | None = None


@dataclass
class Decoded:
    tokens: list[int] = field(default_factory=list)  # generated tokens, a final EOS included
    ended_eos: bool = False
    stopped: bool = False  # a stop string was found in the decoded tail
    logprobs: list[torch.Tensor] = field(default_factory=list)  # processed scores per step, when asked for


@dataclass
class Penalties:
    """OpenAI's presence/frequency penalties over the tokens a row has generated."""

    presence: float = 0.0
    frequency: float = 0.0

    def apply(self, scores: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        from .penalties import penalize

        return penalize(scores, counts, self.presence, self.frequency)


@dataclass
class _Batch:
    """The rows being decoded together and their model state."""

    rows: list[int]  # batch position -> row index
    cache: Any
    mask: torch.Tensor  # [rows, cache length] 1 = real token
    positions: torch.Tensor  # [rows] position id of each row's next token
    logits: torch.Tensor  # [rows, vocab] for each row's next token
    counts: torch.Tensor | None  # [rows, vocab] generated-token counts, for penalties


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Tokens every row starts with, leaving at least one token of each row for its tail (the
    tail's last position gives the row's first logits)."""
    if len(rows) < 2:
        return 0
    first = rows[0]
    n = min(len(r) for r in rows) - 1
    for r in rows[1:]:
        k = 0
        while k < n and r[k] == first[k]:
            k += 1
        n = k
        if n == 0:
            break
    return max(n, 0)


def order_for_sharing(rows: Sequence[Sequence[int]], min_shared: int = MIN_SHARED_PREFIX) -> list[int]:
    """Indices of `rows` in the order they should be admitted: rows that share a head of at
    least `min_shared` tokens sit together (lexicographic sort, then runs of neighbours sharing
    the head), and inside each run by length, so padding stays small. Rows sharing no head with
    a neighbour come last, by length."""
    lex = sorted(range(len(rows)), key=lambda i: (list(rows[i]), i))
    runs: list[list[int]] = []
    for i in lex:
        if runs:
            prev, cur = rows[runs[-1][-1]], rows[i]
            if len(prev) >= min_shared and len(cur) >= min_shared and list(prev[:min_shared]) == list(cur[:min_shared]):
                runs[-1].append(i)
                continue
        runs.append([i])
    ordered: list[int] = []
    loose: list[int] = []
    for run in runs:
        if len(run) == 1:
            loose.extend(run)
        else:
            ordered.extend(sorted(run, key=lambda i: (len(rows[i]), i)))
    ordered.extend(sorted(loose, key=lambda i: (len(rows[i]), i)))
    return ordered


def split_for_padding(lengths: Sequence[int], waste: float = 0.25) -> list[list[int]]:
    """Positions of `lengths` cut into prefill calls so that no call pads more than `waste` of
    its real tokens (a prefill costs rows x longest, and on a CPU it is compute-bound)."""
    order = sorted(range(len(lengths)), key=lambda k: lengths[k])
    pieces: list[list[int]] = []
    real = 0
    for k in order:
        if pieces and (len(pieces[-1]) + 1) * lengths[k] <= (1 + waste) * (real + lengths[k]):
            pieces[-1].append(k)
            real += lengths[k]
        else:
            pieces.append([k])
            real = lengths[k]
    return pieces


def _accepts(model: Any, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _left_pad(t: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


class Decoder:
    """The decoding loop for one loaded model (it remembers what the model's forward accepts)."""

    def __init__(self, model: Any, pad_id: int, eos_ids: set[int], min_shared: int = MIN_SHARED_PREFIX) -> None:
        self.model = model
        self.pad_id = pad_id
        self.eos_ids = set(eos_ids)
        self.min_shared = min_shared
        self.max_heads = 4
        # Joining fresh rows to a running batch pads plain caches; sliding-window or other
        # special layers keep their own bookkeeping, so for them a batch runs until it empties.
        self.can_join = self._can_join(self._new_cache())
        self.keep_last_only = _accepts(model, "logits_to_keep")
        # newer transformers name the cache argument `cache` and warn on the old name
        self.cache_arg = "cache" if _accepts(model, "cache") else "past_key_values"
        self.device = next(model.parameters()).device
        self.stats = {"prefill_tokens": 0, "shared_tokens_saved": 0, "decode_steps": 0, "admissions": 0, "joins": 0}

    # -- model calls -----------------------------------------------------------------------
    def _forward(self, ids: torch.Tensor, mask: torch.Tensor | None, positions: torch.Tensor | None,
                 cache: Any) -> torch.Tensor:
        kw: dict[str, Any] = {"input_ids": ids, self.cache_arg: cache, "use_cache": True}
        if mask is not None:
            kw["attention_mask"] = mask
        if positions is not None:
            kw["position_ids"] = positions
        if self.keep_last_only:
            kw["logits_to_keep"] = 1
        return self.model(**kw).logits[:, -1, :].float()

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def _head_cache(self, admitted: Sequence[list[int]], upcoming: Sequence[list[int]],
                    heads: dict[tuple[int, ...], Any]) -> tuple[list[int], Any] | None:
        """The head (tokens, batch-1 cache) to start the admitted rows from (they share their
        first `min_shared` tokens, or there is one of them).

        A head kept from earlier admissions is reused when it fits them all. Otherwise the new
        head is what they share with the queued rows that start like them, so one or two rows
        refilling free slots still prefill the head the rest of their run reuses."""
        for tokens, cache in heads.items():
            if all(len(x) > len(tokens) and tuple(x[:len(tokens)]) == tokens for x in admitted):
                return list(tokens), cache
        key = admitted[0][:self.min_shared]
        alike = [x for x in upcoming if x[:self.min_shared] == key]
        n = shared_prefix_length(list(admitted) + alike)
        if n < self.min_shared:
            return None
        tokens = list(admitted[0][:n])
        cache = self._new_cache()
        self._forward(torch.tensor([tokens], dtype=torch.long, device=self.device), None,
                      torch.arange(n, device=self.device)[None], cache)
        self.stats["prefill_tokens"] += n
        self.stats["shared_tokens_saved"] -= n
        if len(heads) >= self.max_heads:
            heads.pop(next(iter(heads)))  # oldest first: rows arrive run by run
        heads[tuple(tokens)] = cache
        return tokens, cache

    def _admit(self, index: list[int], rows: Sequence[DecodeRow], upcoming: Sequence[list[int]],
               heads: dict[tuple[int, ...], Any], with_counts: bool) -> _Batch:
        """Prefill the admitted rows, one call per run of rows that start alike (each from its
        head), joined into one batch."""
        if not self.can_join:  # one prefill call: its rows cannot be joined to others later
            head = self._head_cache([rows[i].ids for i in index], upcoming, heads)
            return self._prefill(index, rows, head, with_counts)
        runs: list[list[int]] = []
        for i in index:
            ids = rows[i].ids
            if runs and len(ids) > self.min_shared and rows[runs[-1][0]].ids[:self.min_shared] == ids[:self.min_shared]:
                runs[-1].append(i)
            else:
                runs.append([i])
        batch: _Batch | None = None
        for run in runs:
            head = self._head_cache([rows[i].ids for i in run], upcoming, heads)
            n = len(head[0]) if head is not None else 0
            for piece in split_for_padding([len(rows[i].ids) - n for i in run]):
                fresh = self._prefill([run[k] for k in piece], rows, head, with_counts)
                batch = fresh if batch is None else self._join(batch, fresh)
        assert batch is not None
        return batch

    def _prefill(self, index: list[int], rows: Sequence[DecodeRow], head: tuple[list[int], Any] | None,
                 with_counts: bool) -> _Batch:
        dev = self.device
        b = len(index)
        n = len(head[0]) if head is not None else 0
        if head is not None:
            cache = copy.deepcopy(head[1])
            cache.batch_repeat_interleave(b)
            self.stats["shared_tokens_saved"] += n * b
        else:
            cache = self._new_cache()
        tails = [rows[i].ids[n:] for i in index]
        width = max(len(t) for t in tails)
        ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        tail_mask = torch.zeros((b, width), dtype=torch.long)
        for j, t in enumerate(tails):
            ids[j, width - len(t):] = torch.tensor(t, dtype=torch.long)
            tail_mask[j, width - len(t):] = 1
        mask = torch.cat([torch.ones((b, n), dtype=torch.long), tail_mask], dim=1).to(dev)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, n:]
        logits = self._forward(ids.to(dev), mask, positions, cache)
        self.stats["prefill_tokens"] += b * width
        self.stats["admissions"] += 1
        counts = torch.zeros((b, logits.shape[-1]), dtype=logits.dtype, device=dev) if with_counts else None
        return _Batch(list(index), cache, mask, mask.sum(-1), logits, counts)

    # -- batch surgery ---------------------------------------------------------------------
    @staticmethod
    def _can_join(cache: Any) -> bool:
        from transformers.cache_utils import DynamicLayer

        return all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", [None]))

    @staticmethod
    def _select(batch: _Batch, keep: list[int]) -> None:
        index = torch.tensor(keep, dtype=torch.long, device=batch.mask.device)
        batch.cache.batch_select_indices(index)
        batch.rows = [batch.rows[j] for j in keep]
        batch.mask, batch.positions, batch.logits = batch.mask[index], batch.positions[index], batch.logits[index]
        if batch.counts is not None:
            batch.counts = batch.counts[index]

    @staticmethod
    def _join(a: _Batch, b: _Batch) -> _Batch:
        """One batch of both: caches and masks left-padded to the longer length."""
        width = max(a.mask.shape[1], b.mask.shape[1])
        for la, lb in zip(a.cache.layers, b.cache.layers):
            la.keys = torch.cat([_left_pad(la.keys, width, 2), _left_pad(lb.keys, width, 2)], dim=0)
            la.values = torch.cat([_left_pad(la.values, width, 2), _left_pad(lb.values, width, 2)], dim=0)
        counts = None if a.counts is None else torch.cat([a.counts, b.counts])
        return _Batch(a.rows + b.rows, a.cache, torch.cat([_left_pad(a.mask, width, 1), _left_pad(b.mask, width, 1)]),
                      torch.cat([a.positions, b.positions]), torch.cat([a.logits, b.logits]), counts)

    # -- the loop --------------------------------------------------------------------------
    @torch.inference_mode()
    def run(self, rows: Sequence[DecodeRow], *, capacity: int, max_new_tokens: int, greedy: bool,
            penalties: Penalties | None = None, warpers: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
            keep_logprobs: bool = False, stop_hit: Callable[[int, list[int]], bool] | None = None,
            on_done: Callable[[int, Decoded], None] | None = None) -> list[Decoded]:
        """Decode every row, at most `capacity` at a time, admitting rows in the given order.

        `stop_hit(row, tokens)` says whether a row's stop string has appeared (asked only for
        rows with stops); `on_done(row, decoded)` is called as each row finishes.
        """
        out = [Decoded() for _ in rows]
        if max_new_tokens <= 0:
            for i in range(len(rows)):
                if on_done is not None:
                    on_done(i, out[i])
            return out
        capacity = max(1, capacity)
        refill_at = max(1, capacity // 4)  # free slots worth a prefill call
        queue = deque(range(len(rows)))
        batch: _Batch | None = None
        heads: dict[tuple[int, ...], Any] = {}  # head tokens -> batch-1 cache, newest last
        no_args = torch.zeros((0, 0), dtype=torch.long)
        while queue or batch is not None:
            free = capacity - (len(batch.rows) if batch is not None else 0)
            if queue and (batch is None or (self.can_join and free >= min(refill_at, len(queue)))):
                index = [queue.popleft() for _ in range(min(free, len(queue)))]
                upcoming = [rows[queue[k]].ids for k in range(min(capacity, len(queue)))]
                fresh = self._admit(index, rows, upcoming, heads, penalties is not None)
                if batch is None:
                    batch = fresh
                else:
                    batch = self._join(batch, fresh)
                    self.stats["joins"] += 1
            assert batch is not None
            scores = batch.logits
            if penalties is not None:
                scores = penalties.apply(scores, batch.counts)
            if warpers is not None:
                scores = warpers(no_args, scores)
            if greedy:
                nxt = scores.argmax(-1)
            else:
                probs = torch.softmax(scores, dim=-1).cpu()
                nxt = torch.tensor([int(torch.multinomial(probs[j], 1, generator=rows[r].generator))
                                    for j, r in enumerate(batch.rows)], dtype=torch.long, device=self.device)
            if keep_logprobs:
                kept = scores.cpu()
                for j, r in enumerate(batch.rows):
                    out[r].logprobs.append(kept[j])
            keep: list[int] = []
            for j, (r, token) in enumerate(zip(batch.rows, nxt.tolist())):
                d = out[r]
                d.tokens.append(token)
                if token in self.eos_ids:
                    d.ended_eos = True
                elif rows[r].stops and stop_hit is not None and stop_hit(r, d.tokens):
                    d.stopped = True
                elif len(d.tokens) < max_new_tokens:
                    keep.append(j)
                    continue
                if on_done is not None:
                    on_done(r, d)
            if not keep:
                batch = None
                continue
            if len(keep) < len(batch.rows):
                self._select(batch, keep)
                nxt = nxt[torch.tensor(keep, dtype=torch.long, device=nxt.device)]
            if batch.counts is not None:
                batch.counts.scatter_add_(1, nxt[:, None], torch.ones((len(keep), 1), dtype=batch.counts.dtype,
                                                                       device=batch.counts.device))
            batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(keep), 1))], dim=1)
            batch.logits = self._forward(nxt[:, None], batch.mask, batch.positions[:, None], batch.cache)
            batch.positions = batch.positions + 1
            self.stats["decode_steps"] += 1
        return out
