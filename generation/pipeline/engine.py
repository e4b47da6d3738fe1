"""The pipeline driver: rounds of requests, the request log, resume, replay and budgets.

One loop serves a fresh run, a resumed run and an offline replay. Every round first looks for
its responses in the request log; only what is missing is sent to the model, and the responses
(new or recorded) go through the same pure parse and filter functions in prompt order. So a
resumed run rebuilds its state by replaying its own log, a run killed at any moment loses at
most the round in flight, and `selfinstruct replay` is the same loop with the model taken away.

Derived files (kept instructions, labels, instances, rejections) are rewritten atomically from
the rebuilt state once per invocation, then appended to round by round; steps 2 and 3 rewrite
their file in canonical (kept-instruction) order when they finish.
"""
from __future__ import annotations

import gc
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..jsonl import JsonlAppender, SharedEncoder, write_json, write_jsonl
from ..lm.base import LanguageModel, LMResult, SamplingParams
from ..lm.config import EMBEDDED_MODEL, BackendConfig
from ..seeds import SeedTask
from . import finetune as ft
from .filters import InstructionFilter, filter_instances
from .parsing import (
    is_classification_answer, parse_instances, parse_instruction_response, strip_chat_echo,
)
from .profiles import Profile, get_profile
from .rounds import Round
from ..rundir import RunPaths, load_requests, now, read_manifest, settings_hash, versions
from .sampling import request_seed, round_rng, sample_prompt_instructions, task_rng
from .templates import bootstrap_prompt, classify_prompt, frame, instances_prompt, load_prompt_data, request_prompt_record

STEPS = ("bootstrap", "classify", "instances", "finetune")

# Measured on the embedded SmolLM2-135M-Instruct (docs/pipeline.md, "Yield"): the framing that
# gave more kept instructions per prompt and valid instances per instruction.
EMBEDDED_FRAMING = "completion"

_CHAT_MODEL_PREFIXES = ("gpt-3.5-turbo", "gpt-4", "gpt-5", "o1", "o3", "o4", "chatgpt")


@dataclass
class GenerateSettings:
    """Everything a run is configured with, apart from the model flags (BackendConfig)."""

    num_instructions: int | None = 100
    profile: str = "default"
    seed: int = 42
    finetune_seed: int = 123
    threshold: float = 0.7
    framing: str = "auto"  # auto | completion | chat
    concurrency: int = 16  # prompts per round (default profile) and per batch in steps 2-3
    classification_only: bool = False
    include_seed_instances: bool = True
    max_cost: float | None = None
    max_tokens: int | None = None  # total token budget for the run dir
    request_max_tokens: int | None = None  # cap on each request's max_tokens (small local models)
    prompts_per_request: int = 1  # completions prompts packed into one HTTP request (OpenAI-compatible)
    overlap_rounds: bool = False  # sample round r+1 from the pool before round r (hides round r's filtering)
    seed_tasks: str | None = None
    seed_tasks_sha256: str | None = None


def resolve_framing(framing: str, config: BackendConfig) -> str:
    """Completion models get the paper's prompts as they are; chat models get them framed as a
    conversation. "auto" picks by what is known about the model before loading it."""
    if framing != "auto":
        return framing
    if config.model == EMBEDDED_MODEL:
        return EMBEDDED_FRAMING
    if config.api in ("chat", "completions"):
        return "chat" if config.api == "chat" else "completion"
    name = config.model.split("/")[-1]
    if name.startswith(_CHAT_MODEL_PREFIXES) and "instruct" not in name:
        return "chat"
    return "completion"


def hashed_settings(settings: GenerateSettings, profile: Profile, config: BackendConfig) -> dict[str, Any]:
    """The settings that change what a run produces; resuming with other values is refused.
    Budgets, the target count, concurrency in steps 2-3, URLs and timeouts are not among them."""
    d = {
        "profile": profile.name, "seed": settings.seed, "finetune_seed": settings.finetune_seed,
        "threshold": settings.threshold, "framing": resolve_framing(settings.framing, config),
        "classification_only": settings.classification_only,
        "include_seed_instances": settings.include_seed_instances,
        "seed_tasks_sha256": settings.seed_tasks_sha256, "model": config.model, "api": config.api,
    }
    if profile.round_size is None:
        d["round_size"] = settings.concurrency
    if settings.request_max_tokens is not None:
        d["request_max_tokens"] = settings.request_max_tokens
    if settings.prompts_per_request > 1:  # it groups the step-1 sampling seeds (see _bootstrap_params)
        d["prompts_per_request"] = settings.prompts_per_request
    if settings.overlap_rounds:  # prompts sample an older pool
        d["overlap_rounds"] = True
    return d


def _response_dict(result: LMResult) -> dict | None:
    if not result.ok:
        return None
    return {"choices": [{"text": c.text, "index": i, "logprobs": c.logprobs, "finish_reason": c.finish_reason}
                        for i, c in enumerate(result.choices)]}


def _choice(rec: dict) -> tuple[str, str | None] | None:
    resp = rec.get("response")
    if not resp or not resp.get("choices"):
        return None
    c = resp["choices"][0]
    return c.get("text") or "", c.get("finish_reason")


def _is_chat(rec: dict) -> bool:
    return isinstance(rec.get("prompt"), list)


@dataclass
class StepStats:
    requests: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class Engine:
    """One run directory being generated, resumed or replayed. See the module docstring."""

    root: Path
    settings: GenerateSettings
    config: BackendConfig
    seeds: list[SeedTask]
    mode: str = "live"  # live | replay
    records: list[dict] | None = None  # replay: the request records to derive from
    force: bool = False
    progress: bool = True
    lm: LanguageModel | None = None  # injected backend (tests, benchmarks); else made lazily
    index_factory: Callable | None = None
    manifest_extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.paths = RunPaths(Path(self.root))
        self.profile = get_profile(self.settings.profile)
        self.framing = resolve_framing(self.settings.framing, self.config)
        if self.settings.num_instructions is not None and self.settings.num_instructions < 0:
            raise InputError("must be >= 0", field="--num-instructions")
        tasks = [t for t in self.seeds if t.is_classification] if self.settings.classification_only else self.seeds
        if not tasks:
            raise InputError("no seed tasks to prompt with", field="--seed-tasks")
        if self.settings.overlap_rounds and self.profile.round_size is not None:
            raise InputError("needs --profile default (upstream's loop filters each request before the next)",
                             field="--overlap-rounds")
        self.seed_instructions = [t.instruction for t in tasks]
        num_prompt = load_prompt_data("bootstrap")["num_prompt_instructions"]
        self.num_prompt = min(num_prompt, len(self.seed_instructions))
        self.num_machine = load_prompt_data("bootstrap")["num_machine_instructions"]
        self.filter = InstructionFilter(self.seed_instructions, threshold=self.settings.threshold,
                                        inclusive=self.profile.inclusive_threshold, index_factory=self.index_factory,
                                        top_k_order="upstream" if self.profile.upstream_top_k_order else "stable")
        self.machine: list[str] = []
        self.kept: list[dict] = []
        self.boot_rejected: list[dict] = []
        self.rule_counts: Counter[str] = Counter()
        self.candidates = 0
        self.rng = random.Random(self.settings.seed)  # upstream: one stream per process
        self.next_round = 0
        self._round_base = 0
        self._pool_marks: list[int] = []  # len(machine) after each round (overlapped sampling)
        self.status = "running"
        self.stats = {s: StepStats() for s in STEPS[:3]}
        self.timings: dict[str, float] = {}
        self._boot_cache: dict[tuple[int, int], dict] = {}
        self._keyed: dict[tuple[str, str], list[dict]] = {}
        self._appender: JsonlAppender | None = None
        self._derived_appenders: dict[Path, JsonlAppender] = {}
        self._encoder = SharedEncoder()  # a response's bytes, reused by the log and its kept rows
        self._versions = versions()
        self._rewritten = False
        self._written = {"kept": 0, "rejected": 0}
        self._step_rows_written: dict[str, set[str]] = {"classify": set(), "instances": set()}
        self._derived_instances: tuple[list[dict], list[dict], Counter] | None = None
        self._bars: dict[str, Any] = {}
        self._own_lm = False

    # -- settings and the request log -----------------------------------------------------------
    def _check_settings(self) -> None:
        old = read_manifest(self.paths.manifest)
        new = hashed_settings(self.settings, self.profile, self.config)
        self.settings_hash = settings_hash(new)
        if old is None or old.get("settings_hash") == self.settings_hash or self.force:
            return
        before = old.get("hashed_settings", {})
        changed = [f"{k}: {before.get(k)!r} -> {v!r}" for k, v in new.items() if before.get(k) != v]
        raise InputError(
            "this run directory was made with different settings (" + "; ".join(changed or ["unknown"]) +
            "); rerun with the same settings to resume, pass --force to continue anyway, or use a new --out",
            file=self.paths.manifest, field="settings")

    def _load_log(self) -> None:
        if self.mode == "replay":
            recs = self.records or []
        else:
            recs = load_requests(self.paths.requests)
        for rec in recs:
            self._index_record(rec)

    def _index_record(self, rec: dict) -> None:
        step = rec.get("step")
        st = self.stats.get(step)
        if st is not None:
            st.requests += 1
            st.failures += rec.get("response") is None
            usage = rec.get("usage") or {}
            st.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            st.completion_tokens += int(usage.get("completion_tokens") or 0)
            st.cost_usd += float(rec.get("cost_usd") or 0.0)
        if step == "bootstrap":
            self._boot_cache[(int(rec["round"]), int(rec["position"]))] = rec
        elif step in ("classify", "instances"):
            self._keyed.setdefault((step, rec["key"]), []).append(rec)

    @property
    def tokens_used(self) -> int:
        return sum(s.prompt_tokens + s.completion_tokens for s in self.stats.values())

    @property
    def cost_used(self) -> float:
        return sum(s.cost_usd for s in self.stats.values())

    def _over_budget(self) -> bool:
        s = self.settings
        return ((s.max_tokens is not None and self.tokens_used >= s.max_tokens)
                or (s.max_cost is not None and self.cost_used >= s.max_cost))

    # -- the model ------------------------------------------------------------------------------
    def _model(self) -> LanguageModel:
        if self.lm is None:
            from ..lm.factory import make_backend

            self.lm = make_backend(self.config)
            if self.settings.prompts_per_request > 1 and hasattr(self.lm, "prompts_per_request"):
                self.lm.prompts_per_request = self.settings.prompts_per_request
            self._own_lm = True
        return self.lm

    def _send(self, step: str, requests: list, meta: list[dict]) -> list[dict]:
        """Send one round, append its records to the log (one write, prompt order), return them."""
        return self._log(step, requests, meta, *self._generate(requests))

    def _generate(self, requests: list) -> tuple[list[LMResult], list[float]]:
        """The model's answers and each one's cost. Touches only the backend, so it may run on
        the background thread of an overlapped round (two of them at once, when the backend
        allows it): each cost comes from the answer's own usage where the backend has prices,
        else from an even share of what the backend's total grew by."""
        lm = self._model()
        cost_before = float(getattr(lm, "cost_usd", 0.0) or 0.0)
        results = lm.generate(requests)
        table, model = getattr(lm, "price_table", None), getattr(lm, "model", None)
        if table is not None and model is not None:
            return results, [table.cost(model, r.usage) for r in results]
        share = (float(getattr(lm, "cost_usd", 0.0) or 0.0) - cost_before) / max(1, len(results))
        return results, [share] * len(results)

    def _log(self, step: str, requests: list, meta: list[dict], results: list[LMResult],
             costs: list[float]) -> list[dict]:
        created = now()
        out = []
        params: dict[SamplingParams, dict] = {}  # a round's requests share a few settings: convert each once
        for req, m, res, cost in zip(requests, meta, results, costs):
            p = params.get(req.params)
            if p is None:
                p = params[req.params] = asdict(req.params)
            rec = {"step": step, **m, "prompt": request_prompt_record(req), "params": p,
                   "response": _response_dict(res),
                   "usage": {"prompt_tokens": res.usage.prompt_tokens, "completion_tokens": res.usage.completion_tokens},
                   "error": res.error if not res.ok else None, "created_at": created, "cost_usd": cost}
            out.append(rec)
        if self._appender is None:
            self._appender = JsonlAppender(self.paths.requests)
        fragment = self._encoder.fragment
        self._appender.write_many([rec if rec["response"] is None else {**rec, "response": fragment(rec["response"])}
                                   for rec in out])
        for rec in out:
            self._index_record(rec)
        return out

    # -- step 1 ----------------------------------------------------------------------------------
    def _cap(self, max_tokens: int) -> int:
        cap = self.settings.request_max_tokens
        return max_tokens if cap is None else max(1, min(max_tokens, cap))

    def _bootstrap_params(self, request_idx: int) -> SamplingParams:
        # Only requests with equal params can share an HTTP request, so with packing the K
        # consecutive requests of a pack share one seed (a server seeds each prompt of a list).
        k = max(1, self.settings.prompts_per_request)
        seed = None if self.profile.single_rng_stream else request_seed(self.settings.seed, request_idx // k if k > 1 else request_idx)
        return SamplingParams(max_tokens=self._cap(1024), temperature=0.7, top_p=0.5, frequency_penalty=0.0,
                              presence_penalty=2.0, stop=self.profile.bootstrap_stop, n=1,
                              logprobs=1 if self.framing == "completion" else None, seed=seed)

    def _sample_round(self, r: int, size: int) -> list[str]:
        rng = self.rng if self.profile.single_rng_stream else round_rng(self.settings.seed, r)
        machine = self.machine
        if self.settings.overlap_rounds:  # the pool as it was before round r-1 was filtered
            machine = machine[:self._pool_marks[r - 2] if r >= 2 else 0]
        prompts = []
        for _ in range(size):
            chosen = sample_prompt_instructions(rng, self.seed_instructions, machine,
                                                num_prompt=self.num_prompt, num_machine=self.num_machine)
            prompts.append(bootstrap_prompt(chosen, classification=self.settings.classification_only))
        return prompts

    def _target_reached(self) -> bool:
        n = self.settings.num_instructions
        return n is not None and len(self.kept) >= n

    def _bootstrap(self, live: bool) -> None:
        if self.mode == "replay":
            rounds: dict[int, list[dict]] = {}
            for (r, j), rec in sorted(self._boot_cache.items()):
                rounds.setdefault(r, []).append(rec)
            for r in sorted(rounds):
                if self._target_reached():
                    break
                self._process_round(rounds[r])
            return
        size = self.profile.round_size or self.settings.concurrency
        bar = self._bar("bootstrap", self.settings.num_instructions)
        inflight: Round | None = None
        while not self._target_reached():
            if inflight is None:
                inflight = self._open_round(self.next_round, size, live)
                if inflight is None:
                    break
            # Overlapped rounds: round r+1 is sampled and sent before round r is filtered, so
            # its HTTP wait hides round r's filtering. Which pool it samples from is fixed by
            # the setting, not by this choice, so skipping the overlap (when round r will
            # probably reach the target) changes nothing but the timing.
            following = None
            if self.settings.overlap_rounds and self._worth_overlapping():
                together = getattr(self.lm, "concurrent_generate", False)  # else it waits its turn
                following = self._open_round(inflight.r + 1, size, live, after=None if together else inflight)
            recs = inflight.collect()
            self._process_round(recs)
            # What a round leaves behind (responses, kept rows, pool entries) lives for the whole
            # run; out of the collector's sight, each later collection stays as cheap as the first.
            gc.freeze()
            self._pool_marks.append(len(self.machine))
            self.next_round += 1
            self._round_base += size
            if self._rewritten:
                self._append_bootstrap()
                self._write_manifest()
            self._update_bar(bar, len(self.kept))
            inflight = following
        if inflight is not None:  # opened but not needed (target reached): its answers are still logged
            inflight.collect()
        if bar is not None:
            bar.close()

    def _open_round(self, r: int, size: int, live: bool, after: "Round | None" = None) -> "Round | None":
        """Round r's prompts, with the recorded answers the log has for them; the missing ones
        are sent (on a background thread when rounds overlap, once `after`'s requests are
        answered, so --concurrency still bounds what is in flight). None when nothing may be
        sent."""
        prompts = self._sample_round(r, size)
        recs: list[dict | None] = []
        for j, prompt in enumerate(prompts):
            rec = self._boot_cache.get((r, j))
            recs.append(rec if rec is not None and self._prompt_text(rec) == prompt else None)
        missing = [j for j, rec in enumerate(recs) if rec is None]
        if not missing:
            return Round(self, r, recs)
        if not live:
            return None
        if self._over_budget():
            self.status = "stopped_budget"
            return None
        self._flush()
        base = self._round_base + (size if r > self.next_round else 0)
        requests, meta = [], []
        for j in missing:
            # upstream: one API call per round of 5 prompts; default: one call per prompt
            idx = r if self.profile.single_rng_stream else base + j
            requests.append(frame("bootstrap", prompts[j], self._bootstrap_params(idx), self.framing))
            meta.append({"round": r, "position": j, "round_size": size, "request_idx": idx})
        self._model()  # made here, on the engine's thread, never by two rounds at once
        return Round(self, r, recs, missing, requests, meta, background=self.settings.overlap_rounds, after=after)

    def _worth_overlapping(self) -> bool:
        """Whether to open the next round before the one in flight is filtered: not when, by
        the yield and spend per round so far, the round in flight will probably reach the
        target or exhaust a budget (the next round would pay for prompts nobody needs, or
        overshoot the budget by two rounds instead of one)."""
        rounds = self.next_round
        if not rounds:
            return True
        n, s = self.settings.num_instructions, self.settings
        if n is not None and len(self.kept) * (rounds + 1) / rounds >= n:
            return False
        if s.max_tokens is not None and self.tokens_used * (rounds + 1) / rounds >= s.max_tokens:
            return False
        return s.max_cost is None or self.cost_used * (rounds + 1) / rounds < s.max_cost

    @staticmethod
    def _prompt_text(rec: dict) -> str:
        p = rec.get("prompt")
        if isinstance(p, list):  # chat framing: the user message carries the prompt
            return next((m["content"] for m in p if m.get("role") == "user"), "")
        return p or ""

    def _process_round(self, recs: Sequence[dict]) -> None:
        """Parse and filter one round's responses in prompt order (pure over recorded data).

        The candidates of the whole round are judged in one batch (each still meets everything
        kept before it); the rows of rejections keep their order: a response's parse drops,
        then its candidates."""
        parsed = []
        for rec in recs:
            choice = _choice(rec)
            if choice is not None:
                text, finish = choice
                parsed.append((rec, *parse_instruction_response(text, finish, self.profile, chat=_is_chat(rec))))
        n = self.settings.num_instructions
        limit = max(0, n - len(self.kept)) if n is not None and self.profile.trim_to_target else None
        verdicts = iter(self.filter.judge_many([c for _, cands, _ in parsed for c in cands], limit))
        for rec, cands, dropped in parsed:
            for d in dropped:
                self._reject_boot(rec, d.candidate, d.rule)
            metadata = None  # one dict for every instruction kept from this response
            for cand in cands:
                v = next(verdicts)
                self.candidates += 1
                if self._target_reached() and self.profile.trim_to_target:
                    self._reject_boot(rec, cand, "target_reached")
                    continue
                if not v.kept:
                    self._reject_boot(rec, cand, v.rule, v.score, v.nearest)
                    continue
                self.machine.append(cand)
                if metadata is None:
                    metadata = {"prompt": rec.get("prompt"), "response": rec.get("response"),
                                "created_at": rec.get("created_at")}
                self.kept.append({
                    "instruction": cand, "most_similar": v.most_similar, "avg_similarity_score": v.avg_similarity_score,
                    "metadata": metadata, "request_idx": rec.get("request_idx"), "id": f"instruction_{len(self.kept)}",
                })

    def _reject_boot(self, rec: dict, cand: str, rule: str, score: float | None = None, nearest: str | None = None) -> None:
        self.rule_counts[rule] += 1
        row = {"step": "bootstrap", "request_idx": rec.get("request_idx"), "candidate": cand, "rule": rule}
        if score is not None:
            row["score"] = score
            row["nearest"] = nearest
        self.boot_rejected.append(row)

    # -- steps 2 and 3 ----------------------------------------------------------------------------
    def _result(self, step: str, key: str) -> dict | None:
        """The record that decides `key` in `step`: the last successful one; a failed one only
        where the profile treats failures as final (upstream writes "" and moves on)."""
        recs = self._keyed.get((step, key))
        if not recs:
            return None
        for rec in reversed(recs):
            if rec.get("response") is not None:
                return rec
        return None if self.profile.retry_failed_requests else recs[-1]

    def _answer(self, step: str, instruction: str) -> tuple[dict, str] | None:
        """(deciding record, its completion text; "" for a failed one) or None while pending."""
        rec = self._result(step, instruction)
        if rec is None:
            return None
        choice = _choice(rec)
        return rec, (choice[0] if choice else "")

    def clf_label(self, instruction: str) -> bool | None:
        answer = self._answer("classify", instruction)
        return None if answer is None else is_classification_answer(answer[1], self.profile)

    def _clf_row(self, k: dict) -> dict | None:
        answer = self._answer("classify", k["instruction"])
        if answer is None:
            return None
        return {"instruction": k["instruction"], "is_classification": answer[1], "id": k["id"],
                "label": is_classification_answer(answer[1], self.profile)}

    def _instances_max_tokens(self, position: int) -> int:
        if not self.profile.batch_max_tokens:
            return 300 if self.clf_label(self.kept[position]["instruction"]) else 350
        batch = self.kept[position - position % 5: position - position % 5 + 5]
        return 300 if any(self.clf_label(k["instruction"]) for k in batch) else 350

    def _inst_row(self, k: dict) -> dict | None:
        answer = self._answer("instances", k["instruction"])
        if answer is None:
            return None
        rec, text = answer
        return {"instruction": k["instruction"], "raw_instances": text,
                "instance_metadata": {"prompt": rec.get("prompt"), "response": rec.get("response"),
                                      "created_at": rec.get("created_at")},
                "instruction_metadata": k.get("metadata"), "most_similar": k.get("most_similar"),
                "avg_similarity_score": k.get("avg_similarity_score"), "id": k["id"],
                "is_classification": bool(self.clf_label(k["instruction"]))}

    def _keyed_step(self, step: str, live: bool) -> None:
        positions = {k["instruction"]: i for i, k in enumerate(self.kept)}
        if step == "classify":
            todo = [k for k in self.kept if self._result(step, k["instruction"]) is None]
        else:
            todo = [k for k in self.kept
                    if self.clf_label(k["instruction"]) is not None and self._result(step, k["instruction"]) is None]
        if not live or not todo:
            return
        bar = self._bar(step, len(self.kept))
        if bar is not None:
            bar.update(len(self.kept) - len(todo))
        size = max(1, self.settings.concurrency)
        for start in range(0, len(todo), size):
            if self._over_budget():
                self.status = "stopped_budget"
                break
            self._flush()
            chunk = todo[start:start + size]
            requests, meta = [], []
            for k in chunk:
                if step == "classify":
                    params = SamplingParams(max_tokens=self._cap(3), temperature=0.0, top_p=0.0, stop=("\n", "Task"), n=1,
                                            logprobs=1 if self.framing == "completion" else None)
                    prompt = classify_prompt(k["instruction"])
                else:
                    is_clf = bool(self.clf_label(k["instruction"]))
                    params = SamplingParams(max_tokens=self._cap(self._instances_max_tokens(positions[k["instruction"]])),
                                            temperature=0.0, top_p=0.0, presence_penalty=1.5,
                                            stop=("Example 6", "Task:"), n=1,
                                            logprobs=1 if self.framing == "completion" else None)
                    prompt = instances_prompt(k["instruction"], is_classification=is_clf)
                requests.append(frame(step, prompt, params, self.framing))
                # steps 2-3: the instruction's position, so a resumed run numbers them the same
                meta.append({"key": k["instruction"], "request_idx": positions[k["instruction"]]})
            self._send(step, requests, meta)
            self._append_step_rows(step, chunk)
            self._write_manifest()
            self._update_bar(bar, len(chunk), incremental=True)
        if bar is not None:
            bar.close()
        self._rewrite_step_file(step)

    # -- step 4 ----------------------------------------------------------------------------------
    def derive_instances(self) -> tuple[list[dict], list[dict], Counter]:
        """Kept instances per task, their rejections, and rule counts (pure over the state).

        Upstream draws the 5-instance cap from one generator seeded once (123) and then keeps
        using it for the finetuning templates; the default profile gives each task its own
        generator, so one task's sample does not depend on how many tasks came before it.
        """
        stream = random.Random(self.settings.finetune_seed)
        kept_instances: list[dict] = []
        rejected: list[dict] = []
        counts: Counter[str] = Counter()
        for k in self.kept:
            label = self.clf_label(k["instruction"])
            rec = self._result("instances", k["instruction"])
            if label is None or rec is None:
                continue
            choice = _choice(rec)
            text, finish = choice if choice else ("", None)
            if _is_chat(rec):
                text = strip_chat_echo(text, k["instruction"])
            pairs, dropped = parse_instances(text, finish, label)
            rng = task_rng(self.settings.finetune_seed, k["instruction"]) if self.profile.per_task_instance_rng else stream
            chosen, dropped2 = filter_instances(pairs, rng)
            for d in dropped + dropped2:
                counts[d.rule] += 1
                rejected.append({"step": "instances", "request_idx": rec.get("request_idx"), "instruction": k["instruction"],
                                 "candidate": d.candidate, "rule": d.rule})
            for inp, out in chosen:
                kept_instances.append({"instruction": k["instruction"].strip(), "input": inp, "output": out,
                                       "id": k["id"], "is_classification": label})
        self._stream_after_sampling = stream
        self._derived_instances = (kept_instances, rejected, counts)
        return kept_instances, rejected, counts

    def _finetune(self) -> dict[str, int]:
        t0 = time.monotonic()
        instances, rejected, counts = self.derive_instances()
        write_jsonl(self.paths.all_instances, instances)
        training = [ft.TrainingInstance(i["id"], i["instruction"], i["input"], i["output"]) for i in instances]
        if self.settings.include_seed_instances:
            for task in self.seeds:
                for inst in task.instances:
                    training.append(ft.TrainingInstance(task.id, task.instruction, inst.input, inst.output))
        rng = (self._stream_after_sampling if not self.profile.per_task_instance_rng
               else random.Random(f"selfinstruct:{self.settings.finetune_seed}:finetune"))
        pc = ft.prompt_completion_records(training, rng)
        out = self.paths.finetuning
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("gpt3_finetuning_data_*.jsonl"):
            if old.name != f"gpt3_finetuning_data_{len(pc)}.jsonl":
                old.unlink()
        write_jsonl(out / f"gpt3_finetuning_data_{len(pc)}.jsonl", pc)
        write_jsonl(out / "finetuning_prompt_completion.jsonl", pc)
        msgs = ft.messages_records(training)
        write_jsonl(out / "finetuning_messages.jsonl", msgs)
        alpaca = ft.alpaca_records(training)
        write_jsonl(out / "finetuning_alpaca.jsonl", alpaca)
        self._rewrite(self.paths.rejected, self.boot_rejected + rejected)
        self._written["rejected"] = len(self.boot_rejected)
        self.finetune_counts = {"tasks_with_instances": len({i["id"] for i in instances}),
                                "instances": len(instances), "rejected": dict(counts),
                                "prompt_completion": len(pc), "messages": len(msgs), "alpaca": len(alpaca)}
        self.timings["finetune"] = self.timings.get("finetune", 0.0) + time.monotonic() - t0
        return self.finetune_counts

    # -- derived files ------------------------------------------------------------------------------
    def _flush(self) -> None:
        """Once per invocation, before the first new request: rewrite every derived file from
        the state rebuilt out of the log, so appends that follow extend a consistent file."""
        if self._rewritten:
            return
        inst_rejected = self.derive_instances()[1] if any(s == "instances" for s, _ in self._keyed) else []
        self._rewrite(self.paths.instructions, self._instruction_rows(self.kept))
        self._encoder.clear()
        self._rewrite(self.paths.rejected, self.boot_rejected + inst_rejected)
        self._written = {"kept": len(self.kept), "rejected": len(self.boot_rejected)}
        self._rewritten = True
        self._instance_rejections_in_file = bool(inst_rejected)
        for step in ("classify", "instances"):
            self._rewrite_step_file(step)
        self._write_manifest()

    def _instruction_rows(self, kept: list[dict]) -> list[dict]:
        """Kept rows as written: each response's metadata encoded once, however many
        instructions were kept from it (the encoder is emptied once they are written)."""
        fragment = self._encoder.fragment
        return [{**k, "metadata": fragment(k["metadata"], ("response",))} if k.get("metadata") else k for k in kept]

    def _append_bootstrap(self) -> None:
        self._append(self.paths.instructions, self._instruction_rows(self.kept[self._written["kept"]:]))
        self._encoder.clear()
        if self._instance_rejections_in_file:
            self._rewrite(self.paths.rejected, self.boot_rejected + (self._derived_instances or ([], [], None))[1])
        else:
            self._append(self.paths.rejected, self.boot_rejected[self._written["rejected"]:])
        self._written = {"kept": len(self.kept), "rejected": len(self.boot_rejected)}

    def _append(self, path: Path, rows: list[dict]) -> None:
        """Append to a derived file through one open handle per file (opening an appender
        re-reads the file to repair a torn tail, which per round would be quadratic)."""
        fh = self._derived_appenders.get(path)
        if fh is None:
            fh = self._derived_appenders[path] = JsonlAppender(path)
        fh.write_many(rows)

    def _rewrite(self, path: Path, rows: list[dict]) -> None:
        """Atomically replace a derived file (closing its appender, which points at the old one)."""
        fh = self._derived_appenders.pop(path, None)
        if fh is not None:
            fh.close()
        write_jsonl(path, rows)

    def clf_path(self) -> Path:
        return self.paths.clf_file(self.profile.clf_file_model or self.config.model)

    def _step_path(self, step: str) -> Path:
        return self.clf_path() if step == "classify" else self.paths.instances

    def _step_rows(self, step: str, kept: Sequence[dict]) -> list[dict]:
        make = self._clf_row if step == "classify" else self._inst_row
        return [row for row in (make(k) for k in kept) if row is not None]

    def _append_step_rows(self, step: str, chunk: list[dict]) -> None:
        self._append(self._step_path(step), self._step_rows(step, chunk))

    def _rewrite_step_file(self, step: str) -> None:
        rows = self._step_rows(step, self.kept)
        path = self._step_path(step)
        if rows or path.exists():
            self._rewrite(path, rows)

    # -- manifest, progress -------------------------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        labels = [self.clf_label(k["instruction"]) for k in self.kept]
        boot = self.stats["bootstrap"]
        out = {
            "bootstrap": {"prompts": boot.requests, "requests": boot.requests, "rounds": self.next_round,
                          "candidates": self.candidates, "kept": len(self.kept),
                          "rejected": dict(sorted(self.rule_counts.items())), "failures": boot.failures},
            "classify": {"requests": self.stats["classify"].requests, "labelled": sum(x is not None for x in labels),
                         "classification": sum(x is True for x in labels), "failures": self.stats["classify"].failures},
            "instances": {"requests": self.stats["instances"].requests,
                          "tasks": sum(self._result("instances", k["instruction"]) is not None for k in self.kept),
                          "failures": self.stats["instances"].failures},
        }
        if getattr(self, "finetune_counts", None):
            out["finetune"] = self.finetune_counts
        return out

    def _write_manifest(self) -> None:
        if self.mode == "replay" and not self._rewritten:
            return
        old = read_manifest(self.paths.manifest) or {}
        timings = dict(old.get("timings") or {})
        for k, v in self.timings.items():
            timings[k] = round(v + float(self._timings_base.get(k, 0.0)), 3)
        s = asdict(self.settings)
        manifest = {
            "status": self.status,
            "profile": self.profile.name,
            "framing": self.framing,
            "model": self.config.model,
            "backend": self.config.backend,
            "settings": {**s, **self.config.public_dict()},
            "hashed_settings": hashed_settings(self.settings, self.profile, self.config),
            "settings_hash": self.settings_hash,
            "seed_tasks": {"path": self.settings.seed_tasks, "sha256": self.settings.seed_tasks_sha256,
                           "count": len(self.seeds)},
            "random_seed": self.settings.seed,
            "versions": self._versions,
            "counts": self.counts(),
            "usage": {"prompt_tokens": sum(x.prompt_tokens for x in self.stats.values()),
                      "completion_tokens": sum(x.completion_tokens for x in self.stats.values())},
            "usage_per_step": {k: {"prompt_tokens": v.prompt_tokens, "completion_tokens": v.completion_tokens,
                                   "cost_usd": round(v.cost_usd, 6)} for k, v in self.stats.items()},
            "cost_usd": round(self.cost_used, 6),
            "failures": sum(x.failures for x in self.stats.values()),
            "timings": timings,
            "updated_at": now(),
            **self.manifest_extra,
        }
        write_json(self.paths.manifest, manifest)

    def _bar(self, step: str, total: int | None):
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=step, unit="inst" if step == "bootstrap" else "task", file=sys.stderr,
                    dynamic_ncols=True, leave=True)

    def _update_bar(self, bar, value: int, incremental: bool = False) -> None:
        if bar is None:
            return
        if incremental:
            bar.update(value)
        else:
            bar.update(max(0, value - bar.n))
        rejected = sum(self.rule_counts.values())
        bar.set_postfix(kept=len(self.kept), rejected=rejected, tokens=self.tokens_used,
                        cost=f"${self.cost_used:.4f}", refresh=False)

    # -- the whole thing ----------------------------------------------------------------------------
    def run(self, steps: Sequence[str] = STEPS) -> str:
        """Run (or resume, or replay) the given steps; returns the final status."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self._check_settings() if self.mode == "live" else setattr(
            self, "settings_hash", settings_hash(hashed_settings(self.settings, self.profile, self.config)))
        old = read_manifest(self.paths.manifest) if self.mode == "live" else None
        self._timings_base = dict((old or {}).get("timings") or {})
        self._load_log()
        thresholds = gc.get_threshold()
        # A round allocates hundreds of thousands of short-lived objects (responses, candidates),
        # almost none in cycles: young collections every 700 of them cost ~10% of a round.
        gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
        try:
            for step in ("bootstrap", "classify", "instances"):
                live = self.mode == "live" and step in steps and self.status == "running"
                t0 = time.monotonic()
                if step == "bootstrap":
                    self._bootstrap(live)
                else:
                    self._keyed_step(step, live)
                if live:
                    self.timings[step] = self.timings.get(step, 0.0) + time.monotonic() - t0
            self._flush()
            if "finetune" in steps or self.mode == "replay":
                self._finetune()
            if self.status == "running" and self._complete():
                self.status = "complete" if self.mode == "live" else "replayed"
            elif self.mode == "replay":
                self.status = "replayed"
            self._write_manifest()
        finally:
            gc.unfreeze()  # see _bootstrap: the collector gets everything back
            gc.set_threshold(*thresholds)
            if self._appender is not None:
                self._appender.close()
            for fh in self._derived_appenders.values():
                fh.close()
            if self._own_lm and self.lm is not None:
                self.lm.close()
        return self.status

    def _complete(self) -> bool:
        if not self._target_reached() and self.settings.num_instructions is not None:
            return False
        done = all(self._result(s, k["instruction"]) is not None for k in self.kept for s in ("classify", "instances"))
        return done and getattr(self, "finetune_counts", None) is not None
