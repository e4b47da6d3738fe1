"""Local generation with Hugging Face transformers, behind the same protocol as a server.

Design choices that matter for correctness and speed:
- Every (request, choice) pair is one row, so n>1 works for greedy and sampled decoding alike.
- Rows are grouped by the settings they must share (max_tokens, temperature, top_p, penalties,
  logprobs). Decoder-only models then run in our own loop (decode.py): rows sharing a prompt
  head are admitted together and prefill that head once, finished rows leave the batch at once
  and waiting rows take their slots, `batch_size` rows at a time. Encoder-decoder models go
  through `generate`, length-sorted batches of `batch_size`. Results go back in request order.
- Stop strings are per row: a row is done as soon as its decoded tail contains one of its stop
  strings, and the text is cut at the first occurrence (OpenAI semantics: the stop string is not
  returned), finish_reason "stop". A row that spends max_tokens without EOS or a stop string is
  "length".
- Temperature 0 is greedy. Sampling uses our own processor order (penalties, then
  temperature, then top-p) so presence/frequency penalties mean exactly what they mean at
  OpenAI (see penalties.py); the model's own generation_config defaults (top_k=50, repetition
  penalty, ...) are not applied, so a request means the same thing on every backend.
- Sampling draws each row's token with the row's own `torch.Generator`, so a request with a
  `seed` gives the same text whatever else shares its batch, and choice k of n uses seed + k.
"""
from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import BackendInfo, Choice, LMRequest, LMResult, ProgressCallback, SamplingParams, Usage
from .decode import Decoded, Decoder, DecodeRow, Penalties, order_for_sharing

log = logging.getLogger("selfinstruct.lm.transformers")


def choose_cpu_threads() -> int | None:
    """Intra-op threads for CPU inference from `SELFINSTRUCT_TORCH_THREADS`, or None to keep
    torch's own choice (which also honours OMP_NUM_THREADS).

    An explicit knob rather than a guess from the machine's load: results must not depend on
    what else happened to be running. On a CPU shared with other busy processes, OpenMP workers
    spin-wait for each other and one thread can be several times faster (docs/backends.md).
    torch's thread count is process-wide.
    """
    value = os.environ.get("SELFINSTRUCT_TORCH_THREADS")
    return max(1, int(value)) if value else None


def pick_device(device: str | None) -> str:
    import torch

    if device:
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@dataclass
class _Row:
    request: int
    choice: int
    ids: list[int]


def stop_tail(stops: Sequence[Sequence[str]]) -> int:
    """Tokens to decode to see a stop string that ends at the newest token: it lies within the
    last len(stop)+2 tokens (earlier occurrences were caught at earlier steps)."""
    return max((len(s) for row in stops for s in row if s), default=0) + 2


def stop_in_tail(tokenizer: Any, tokens: Sequence[int], stops: Sequence[str], tail: int) -> bool:
    text = tokenizer.decode(list(tokens[-tail:]), skip_special_tokens=True)
    return any(s in text for s in stops if s)


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Text before the earliest stop string, and whether one was found."""
    cut = -1
    for s in stops:
        if s:
            i = text.find(s)
            if i >= 0 and (cut < 0 or i < cut):
                cut = i
    return (text, False) if cut < 0 else (text[:cut], True)


class TransformersBackend(BackendInfo):
    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        batch_size: int = 8,
        device: str | None = None,
        gguf_file: str | None = None,
        dtype: str | None = None,
        name: str | None = None,
        local_files_only: bool | None = None,
    ) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.name = name or str(model_name_or_path)
        self.batch_size = batch_size
        self.device = pick_device(device)
        if self.device == "cpu":
            threads = choose_cpu_threads()
            if threads is not None and threads != torch.get_num_threads():
                log.info("using %d torch thread(s) for CPU generation", threads)
                torch.set_num_threads(threads)
        self.usage = Usage()
        self.stats: dict[str, int] = defaultdict(int)
        source = str(model_name_or_path)
        kw: dict[str, Any] = {}
        if gguf_file:
            kw["gguf_file"] = gguf_file
        if local_files_only is None:
            local_files_only = Path(source).exists()
        kw["local_files_only"] = local_files_only
        t0 = time.perf_counter()
        config = AutoConfig.from_pretrained(source, **kw)
        self.is_encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
        self.tokenizer = AutoTokenizer.from_pretrained(source, **kw)
        if dtype in (None, "auto"):
            torch_dtype = torch.float32 if self.device == "cpu" else (
                torch.bfloat16 if self.device == "cuda" and torch.cuda.is_bf16_supported() else torch.float16)
        else:
            torch_dtype = getattr(torch, dtype)
        cls = AutoModelForSeq2SeqLM if self.is_encoder_decoder else AutoModelForCausalLM
        self.model = cls.from_pretrained(source, dtype=torch_dtype, **kw).to(self.device)
        self.model.eval()
        self.load_seconds = time.perf_counter() - t0
        tok = self.tokenizer
        tok.padding_side = "right" if self.is_encoder_decoder else "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
        self.eos_ids = self._eos_ids()
        # Decoder-only models decode in our own loop (decode.py); encoders keep `generate`.
        self.decoder = None if self.is_encoder_decoder else Decoder(self.model, tok.pad_token_id, self.eos_ids)
        self.max_context = int(getattr(config, "max_position_embeddings", None)
                               or getattr(config, "n_positions", None)
                               or min(getattr(tok, "model_max_length", 2048), 1_000_000))

    def _eos_ids(self) -> set[int]:
        ids = set()
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        for value in (self.tokenizer.eos_token_id, gen_eos):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(int(v) for v in value)
        return ids

    def __repr__(self) -> str:
        return f"TransformersBackend({self.name!r}, device={self.device!r}, batch_size={self.batch_size})"

    @property
    def concurrency(self) -> int:
        """Rows decoded together: what a caller should hand over at once."""
        return self.batch_size

    def close(self) -> None:
        """Nothing to release eagerly; the model goes with the object."""

    # -- prompts -------------------------------------------------------------------------
    def render(self, req: LMRequest) -> tuple[str, bool]:
        """(text, already has special tokens) for one request."""
        if not req.is_chat:
            return req.prompt or "", False
        messages = [dict(m) for m in req.messages or ()]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return text, True
        # No template: a plain transcript the model can continue.
        lines = [f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages]
        return "\n".join(lines) + "\nassistant:", False

    def encode(self, req: LMRequest) -> list[int]:
        text, templated = self.render(req)
        return self.tokenizer(text, add_special_tokens=not templated)["input_ids"]

    # -- the protocol ----------------------------------------------------------------------
    def generate(self, requests: Sequence[LMRequest], progress: ProgressCallback | None = None) -> list[LMResult]:
        results: list[LMResult | None] = [None] * len(requests)
        choices: list[list[Choice | None]] = [[None] * r.params.n for r in requests]
        completion: list[int] = [0] * len(requests)
        prompt_tokens: list[int] = [0] * len(requests)
        remaining = [r.params.n for r in requests]
        groups: dict[tuple, list[_Row]] = defaultdict(list)
        for i, req in enumerate(requests):
            ids = self.encode(req)
            prompt_tokens[i] = len(ids)
            p = req.params
            if p.n < 1:
                results[i] = LMResult.failure("n must be at least 1", attempts=0)
                continue
            room = self.max_context - p.max_tokens
            if len(ids) > room and not self.is_encoder_decoder:
                results[i] = LMResult.failure(
                    f"prompt has {len(ids)} tokens; with max_tokens={p.max_tokens} the context of "
                    f"{self.max_context} leaves room for {max(room, 0)}", attempts=0)
                continue
            key = (p.max_tokens, p.temperature, p.top_p, p.presence_penalty, p.frequency_penalty, p.logprobs)
            groups[key].extend(_Row(i, c, ids) for c in range(p.n))
        for key in groups:  # deterministic order: first request index in the group
            rows = groups[key]
            params = requests[rows[0].request].params
            stops = [requests[r.request].params.stop for r in rows]
            seeds = [requests[r.request].params.seed for r in rows]

            def record(row: _Row, choice: Choice, n_tokens: int) -> None:
                choices[row.request][row.choice] = choice
                completion[row.request] += n_tokens
                remaining[row.request] -= 1
                if remaining[row.request] == 0 and progress is not None:
                    progress(1)

            if self.decoder is not None:
                self._decode_rows(rows, params, stops, seeds, record)
                continue
            order = sorted(range(len(rows)), key=lambda k: (len(rows[k].ids), rows[k].request, rows[k].choice))
            for start in range(0, len(order), self.batch_size):
                part = order[start:start + self.batch_size]
                outs = self._generate_batch_encoder_decoder([rows[k] for k in part], params,
                                                            [stops[k] for k in part], [seeds[k] for k in part])
                for k, (choice, n_tokens) in zip(part, outs):
                    record(rows[k], choice, n_tokens)
        for i in range(len(requests)):
            if results[i] is None:
                usage = Usage(prompt_tokens[i], completion[i])
                self.usage += usage
                results[i] = LMResult(choices=[c for c in choices[i] if c is not None], usage=usage,
                                      raw={"model": self.name, "backend": "transformers"})
            elif progress is not None:
                progress(1)
            self.stats["requests"] += 1
            self.stats["ok" if results[i].ok else "failed"] += 1
        return results  # type: ignore[return-value]

    def _processors(self, params: SamplingParams, with_penalties: bool = True) -> Any:
        """Penalties, then temperature, then top-p: the order OpenAI's settings mean (our
        decoding loop applies the penalties itself, per row)."""
        from transformers import LogitsProcessorList
        from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

        from .penalties import OpenAIPenaltyProcessor

        processors = LogitsProcessorList()
        if with_penalties and (params.presence_penalty or params.frequency_penalty):
            processors.append(OpenAIPenaltyProcessor(params.presence_penalty, params.frequency_penalty))
        if params.temperature > 0:
            if params.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(params.temperature))
            if params.top_p < 1.0:
                processors.append(TopPLogitsWarper(params.top_p))
        return processors

    def _decode_rows(self, rows: list[_Row], params: SamplingParams, stops: list[tuple[str, ...]],
                     seeds: list[int | None], record: Callable[[_Row, Choice, int], None]) -> None:
        """Decoder-only models: our loop (decode.py), `batch_size` rows at a time, rows that
        share a prompt head admitted together."""
        assert self.decoder is not None
        greedy = params.temperature <= 0
        order = order_for_sharing([r.ids for r in rows])
        items = [DecodeRow(rows[k].ids, tuple(s for s in stops[k] if s),
                           None if greedy else _row_generator(seeds[k], rows[k].choice)) for k in order]
        tail = stop_tail([item.stops for item in items])

        def stop_hit(j: int, tokens: list[int]) -> bool:
            return stop_in_tail(self.tokenizer, tokens, items[j].stops, tail)

        def done(j: int, d: Decoded) -> None:
            k = order[j]
            record(rows[k], *self._finish(d.tokens, d.ended_eos, d.stopped, stops[k], params, d.logprobs))

        penalties = (Penalties(params.presence_penalty, params.frequency_penalty)
                     if params.presence_penalty or params.frequency_penalty else None)
        self.decoder.run(items, capacity=self.batch_size, max_new_tokens=params.max_tokens, greedy=greedy,
                         penalties=penalties, warpers=self._processors(params, with_penalties=False) or None,
                         keep_logprobs=params.logprobs is not None, stop_hit=stop_hit, on_done=done)

    def _finish(self, tokens: list[int], ended_eos: bool, stopped: bool, stops: tuple[str, ...],
                params: SamplingParams, logprob_rows: Sequence[Any]) -> tuple[Choice, int]:
        """The Choice for one row's generated tokens (OpenAI semantics: the stop string and the
        EOS token are not returned; finish "length" only when max_tokens ran out)."""
        text = self.tokenizer.decode([t for t in tokens if t not in self.eos_ids], skip_special_tokens=True)
        text, hit = cut_at_stop(text, stops)
        if hit or ended_eos or stopped:
            finish = "stop"
        else:
            finish = "length" if len(tokens) >= params.max_tokens else "stop"
        logprobs = self._logprobs(logprob_rows, tokens, params.logprobs) if params.logprobs is not None else None
        return Choice(text, finish, logprobs), len(tokens)

    def _generate_batch_encoder_decoder(self, batch: list[_Row], params: SamplingParams,
                                        stops: list[tuple[str, ...]], seeds: list[int | None]) -> list[tuple[Choice, int]]:
        """Encoder-decoder models go through `generate` (right-padded encoder inputs)."""
        import torch
        from transformers import GenerationConfig, StoppingCriteriaList

        tok = self.tokenizer
        pad = tok.pad_token_id
        width = max(len(r.ids) for r in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for j, row in enumerate(batch):
            input_ids[j, :len(row.ids)] = torch.tensor(row.ids)
            attention[j, :len(row.ids)] = 1
        input_ids, attention = input_ids.to(self.device), attention.to(self.device)

        greedy = params.temperature <= 0
        processors = self._processors(params)
        sampler = None
        if not greedy:
            sampler = _RowSampler([_row_generator(seed, row.choice) for seed, row in zip(seeds, batch)],
                                  keep_logprobs=params.logprobs is not None)
            processors.append(sampler)
        stopper = _StopStrings(tok, stops)
        config = GenerationConfig(
            max_new_tokens=params.max_tokens,
            do_sample=False,  # sampling, when asked for, happens in _RowSampler
            pad_token_id=pad,
            eos_token_id=sorted(self.eos_ids) or None,
            bos_token_id=getattr(self.model.generation_config, "bos_token_id", None),
            decoder_start_token_id=getattr(self.model.generation_config, "decoder_start_token_id", None),
            return_dict_in_generate=True,
            output_scores=params.logprobs is not None,
        )
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=attention, generation_config=config,
                logits_processor=processors,
                stopping_criteria=StoppingCriteriaList([stopper] if any(stops) else []),
            )
        new = out.sequences[:, 1:]
        scores = (sampler.logprobs if sampler is not None else out.scores) if params.logprobs is not None else ()
        results = []
        for j in range(len(batch)):
            tokens = new[j].tolist()
            length, ended_eos = len(tokens), False
            for k, t in enumerate(tokens):
                if t in self.eos_ids:
                    length, ended_eos = k + 1, True
                    break
            if stopper.stopped_at[j] is not None:
                length = min(length, stopper.stopped_at[j])
            results.append(self._finish(tokens[:length], ended_eos, False, stops[j], params,
                                        [step[j] for step in scores]))
        return results

    def _logprobs(self, steps: Sequence[Any], tokens: list[int], top: int) -> dict:
        """OpenAI completions-style logprobs over the sampling distribution actually used
        (`steps`: that distribution's scores, one vector per generated token)."""
        import torch

        out: dict[str, list] = {"tokens": [], "token_logprobs": [], "top_logprobs": []}
        for step, token in zip(steps, tokens):
            lp = torch.log_softmax(step.float(), dim=-1)
            out["tokens"].append(self.tokenizer.decode([token]))
            out["token_logprobs"].append(float(lp[token]))
            if top > 0:
                values, idx = lp.topk(top)
                out["top_logprobs"].append({self.tokenizer.decode([int(i)]): float(v) for v, i in zip(values, idx)})
        return out


def _row_generator(seed: int | None, choice: int) -> Any:
    import torch

    gen = torch.Generator()
    if seed is None:
        gen.seed()  # fresh entropy, as an unseeded API call would have
    else:
        gen.manual_seed((int(seed) + choice) & 0xFFFF_FFFF_FFFF_FFFF)
    return gen


class _RowSampler:
    """Samples one token per row from the processed distribution with that row's generator.

    It returns scores that are -inf everywhere except the drawn token, so greedy search then
    takes exactly that token. With `keep_logprobs` it keeps each step's log-distribution
    (before the draw) for the logprobs output.
    """

    def __init__(self, generators: list[Any], keep_logprobs: bool = False) -> None:
        self.generators = generators
        self.keep = keep_logprobs
        self.logprobs: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probs = torch.softmax(scores.float(), dim=-1).cpu()
        if self.keep:
            self.logprobs.append(torch.log_softmax(scores.float(), dim=-1))
        drawn = [int(torch.multinomial(probs[j], 1, generator=g)) for j, g in enumerate(self.generators)]
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(len(drawn)), torch.tensor(drawn, device=scores.device)] = 0.0
        return out


class _StopStrings:
    """Per-row stop strings as a stopping criterion (transformers accepts a per-row bool tensor).

    Only the tail of each row is decoded: an occurrence that ends at the newest token lies within
    the last len(stop)+2 tokens, and earlier occurrences were caught at earlier steps.
    """

    def __init__(self, tokenizer: Any, stops: list[tuple[str, ...]]) -> None:
        self.tokenizer = tokenizer
        self.stops = [tuple(s for s in row if s) for row in stops]
        self.tail = stop_tail(self.stops)
        self.stopped_at: list[int | None] = [None] * len(stops)
        self._start: int | None = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        if self._start is None:
            self._start = input_ids.shape[1] - 1  # first call comes after one new token
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        generated = input_ids.shape[1] - self._start
        for j, row_stops in enumerate(self.stops):
            if not row_stops:
                continue
            if self.stopped_at[j] is not None:
                done[j] = True
                continue
            tail = input_ids[j, max(self._start, input_ids.shape[1] - self.tail):].tolist()
            if stop_in_tail(self.tokenizer, tail, row_stops, self.tail):
                self.stopped_at[j] = generated
                done[j] = True
        return done
