"""The driver: the one place that sends requests, appends the request log, enforces budgets and
writes files. The steps (`pipeline.steps`) decide what to send and what the answers mean.

One loop serves a fresh run, a resumed run and an offline replay. Every round first looks for
its responses in the request log; only what is missing is sent, and the responses (new or
recorded) go through the same step functions in prompt order. So a resumed run rebuilds its
state by replaying its own log, a run killed at any moment loses at most the round in flight,
and `selfinstruct replay` is this loop with the model taken away.

Derived files are rewritten atomically from the rebuilt state once per invocation (`_flush`),
then appended to round by round; steps 2 and 3 rewrite their file in kept-instruction order when
they finish.
"""
from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..jsonl import write_json
from ..lm.base import LanguageModel, chunk_size_for
from ..lm.config import BackendConfig
from ..rundir import RunPaths, check_same_settings, load_requests, read_manifest, settings_hash, versions
from ..seeds import SeedTask
from . import progress
from .filters import InstructionFilter
from .health import Health
from .log import RequestIndex
from .manifest import build_manifest, step_counts
from .profiles import STEP_NAMES, get_profile
from .prompt_texts import PromptTexts
from .rounds import Round
from .sender import Sender
from .settings import GenerateSettings, hashed_settings, resolve_framing
from .state import RunState
from .steps.bootstrap import BootstrapStep
from .steps.finetune import DerivedInstances, FinetuneStep
from .steps.keyed import ClassifyStep, InstancesStep
from .upstream_copy import texts_for
from .writer import DerivedFiles

STEPS = STEP_NAMES


@dataclass
class Driver:
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
        s = self.settings
        self.paths = RunPaths(Path(self.root))
        self.profile = profile = get_profile(s.profile)
        self.framing = resolve_framing(s.framing, self.config)
        if s.num_instructions is not None and s.num_instructions < 0:
            raise InputError("must be >= 0", field="--num-instructions")
        tasks = [t for t in self.seeds if t.is_classification] if s.classification_only else self.seeds
        if not tasks:
            raise InputError("no seed tasks to prompt with", field="--seed-tasks")
        if s.overlap_rounds and profile.round_size is not None:
            raise InputError("needs --profile default (upstream's loop filters each request before the next)",
                             field="--overlap-rounds")
        pool = [t.instruction for t in tasks]
        filt = InstructionFilter(pool, threshold=s.threshold, inclusive=profile.inclusive_threshold,
                                 index_factory=self.index_factory,
                                 top_k_order="upstream" if profile.upstream_top_k_order else "stable",
                                 exact_duplicates=profile.drop_exact_duplicates)
        self.state = RunState(RequestIndex(retry_failed=profile.retry_failed_requests), filt, pool)
        self._texts: PromptTexts | None = None
        self.bootstrap = BootstrapStep(s, profile, self.framing, pool, self.prompt_texts)
        self.classify = ClassifyStep(s, profile, self.framing, self.prompt_texts)
        self.instances = InstancesStep(s, profile, self.framing, self.classify, self.prompt_texts)
        self.finetune = FinetuneStep(s, profile, self.classify)
        self.status = "running"
        self.stop_reason: str | None = None  # the one line for a run that cannot progress
        self.health = Health(s.max_failures, s.max_empty_rounds)
        self.settings_hash = settings_hash(hashed_settings(s, profile, self.config))
        self.timings: dict[str, float] = {}
        self.finetune_counts: dict | None = None
        self._timings_base: dict[str, float] = {}
        self._derived: DerivedInstances | None = None
        self._files = DerivedFiles()
        self._versions = versions()
        self._rewritten = False
        self._written = {"kept": 0, "rejected": 0}
        self._instance_rejections_in_file = False
        self.sender = Sender(self.paths.requests, self.config, self.state.log, self.health,
                             prompts_per_request=s.prompts_per_request, shrink_max_tokens=profile.shrink_max_tokens,
                             lm=self.lm, on_stop=self._stop)

    def prompt_texts(self) -> PromptTexts:
        """The texts the profile's specs name, read when the first prompt is built (a replay
        builds none, so it never needs the original repository)."""
        if self._texts is None:
            self._texts = texts_for(self.profile, self.settings.upstream_dir)
        return self._texts

    # -- settings, budgets ----------------------------------------------------------------------
    def _over_budget(self) -> bool:
        return self.state.log.over_budget(self.settings.max_tokens, self.settings.max_cost)

    def _stop(self, status: str, reason: str) -> None:
        if self.stop_reason is None:
            self.status, self.stop_reason = status, reason

    # -- step 1 ------------------------------------------------------------------------------------
    def _run_bootstrap(self, live: bool) -> None:
        state, step = self.state, self.bootstrap
        if self.mode == "replay":
            rounds: dict[int, list[dict]] = {}
            for (r, _), rec in sorted(state.log.bootstrap.items()):
                rounds.setdefault(r, []).append(rec)
            for r in sorted(rounds):
                if step.target_reached(state):
                    break
                step.apply(state, rounds[r])
            return
        bar = self.sender.bar = progress.open_bar("bootstrap", self.settings.num_instructions, self.progress)
        inflight: Round | None = None
        while not step.target_reached(state):
            if inflight is None:
                inflight = self._open_round(state.next_round, live)
                if inflight is None:
                    break
            # Overlapped rounds: round r+1 is sampled and sent before round r is filtered, so its
            # HTTP wait hides round r's filtering. Which pool it samples from is fixed by the
            # setting, not by this choice, so skipping the overlap changes only the timing.
            following = None
            if self.settings.overlap_rounds and self._worth_overlapping():
                together = self.sender.model().concurrent_generate  # else it waits its turn
                following = self._open_round(inflight.r + 1, live, after=None if together else inflight)
            kept_before = len(state.kept)
            recs = inflight.collect(self.sender.log)
            step.apply(state, recs)
            reason = self.health.after_round(any(r.get("response") is not None for r in recs),
                                             len(state.kept) > kept_before)
            if reason is not None:
                self._stop("stopped_no_progress", reason)
            # What a round leaves behind lives for the whole run; out of the collector's sight,
            # each later collection stays as cheap as the first.
            gc.freeze()
            step.close_round(state)
            if self._rewritten:
                self._append_bootstrap()
                self._write_manifest()
            self._update_bar(bar, len(state.kept))
            inflight = following
            if self.status != "running":
                break
        if inflight is not None:  # opened but not needed (target reached): its answers are still logged
            inflight.collect(self.sender.log)
        progress.close_bar(bar)

    def _open_round(self, r: int, live: bool, after: Round | None = None) -> Round | None:
        """Round r with the log's answers; the missing ones are sent (on a background thread
        when rounds overlap). None when nothing may be sent."""
        plan = self.bootstrap.plan(self.state, r)
        if not plan.missing:
            return Round(plan)
        if not live:
            return None
        if self._over_budget():
            self.status = "stopped_budget"
            return None
        self._flush()
        self.sender.model()  # made here, on the driver's thread, never by two rounds at once
        return Round(plan, self.sender.generate, background=self.settings.overlap_rounds, after=after)

    def _worth_overlapping(self) -> bool:
        """Not when, by the yield and spend per round so far, the round in flight will probably
        reach the target or exhaust a budget (the next one would pay for prompts nobody needs)."""
        rounds, s, log = self.state.next_round, self.settings, self.state.log
        if not rounds:
            return True
        grow = (rounds + 1) / rounds
        if s.num_instructions is not None and len(self.state.kept) * grow >= s.num_instructions:
            return False
        if s.max_tokens is not None and log.tokens_used * grow >= s.max_tokens:
            return False
        return s.max_cost is None or log.cost_used * grow < s.max_cost

    # -- steps 2 and 3 -----------------------------------------------------------------------------
    def _run_keyed(self, step: ClassifyStep | InstancesStep, live: bool) -> None:
        state = self.state
        todo = step.pending(state)
        if not live or not todo:
            return
        bar = self.sender.bar = progress.open_bar(step.name, len(state.kept), self.progress)
        if bar is not None:
            bar.update(len(state.kept) - len(todo))
        positions = state.positions()
        start, size = 0, 0
        while start < len(todo):
            if self.status != "running":
                break
            if self._over_budget():
                self.status = "stopped_budget"
                break
            self._flush()
            if not size:  # the backend, made only once something will be sent, says how much at once
                size = self._chunk_size(len(todo))
            chunk = todo[start:start + size]
            start += size
            pairs = [step.request(state, k, positions[k.instruction]) for k in chunk]
            self.sender.send(step.name, [p[0] for p in pairs], [p[1] for p in pairs])
            self._files.append(self._step_path(step), self._step_rows(step, chunk))
            self._write_manifest()
            self._update_bar(bar, len(chunk), incremental=True)
        progress.close_bar(bar)
        self._rewrite_step_file(step)

    def _chunk_size(self, pending: int) -> int:
        """Requests per send in steps 2 and 3, in whole packs (no pack is split across two sends)."""
        size = chunk_size_for(self.sender.model(), self.settings.concurrency, pending)
        pack = max(1, self.settings.prompts_per_request)
        return -(-size // pack) * pack

    def _step_path(self, step: ClassifyStep | InstancesStep) -> Path:
        if step is self.classify:
            return self.paths.clf_file(self.profile.clf_file_model or self.config.model)
        return self.paths.instances

    def _step_rows(self, step: ClassifyStep | InstancesStep, kept: Sequence) -> list[dict]:
        return [rec.to_row() for rec in (step.record(self.state, k) for k in kept) if rec is not None]

    def _rewrite_step_file(self, step: ClassifyStep | InstancesStep) -> None:
        rows, path = self._step_rows(step, self.state.kept), self._step_path(step)
        if rows or path.exists():
            self._files.rewrite(path, rows)

    # -- step 4 ------------------------------------------------------------------------------------
    def _derive_instances(self) -> DerivedInstances:
        self._derived = self.finetune.derive(self.state)
        return self._derived

    def _run_finetune(self) -> None:
        t0 = time.monotonic()
        derived = self._derive_instances()
        data = self.finetune.formats(derived, self.seeds)
        files, paths = self._files, self.paths
        files.rewrite(paths.all_instances, [i.to_row() for i in derived.instances])
        out = paths.finetuning
        out.mkdir(parents=True, exist_ok=True)
        numbered = f"gpt3_finetuning_data_{len(data.prompt_completion)}.jsonl"
        for old in out.glob("gpt3_finetuning_data_*.jsonl"):
            if old.name != numbered:
                old.unlink()
        files.rewrite(out / numbered, data.prompt_completion)
        files.rewrite(out / "finetuning_prompt_completion.jsonl", data.prompt_completion)
        files.rewrite(out / "finetuning_messages.jsonl", data.messages)
        files.rewrite(out / "finetuning_alpaca.jsonl", data.alpaca)
        files.rewrite(paths.rejected, self._rejection_rows(derived))
        self._written["rejected"] = len(self.state.boot_rejected)
        self.finetune_counts = self.finetune.counts(derived, data)
        self.timings["finetune"] = self.timings.get("finetune", 0.0) + time.monotonic() - t0

    # -- derived files -------------------------------------------------------------------------------
    def _rejection_rows(self, derived: DerivedInstances | None) -> list[dict]:
        rows = [r.to_row() for r in self.state.boot_rejected]
        return rows + ([r.to_row() for r in derived.rejected] if derived is not None else [])

    def _kept_rows(self, kept: Sequence) -> list[dict]:
        """Kept rows as written: each response's metadata encoded once, however many
        instructions were kept from it (the encoder is emptied once they are written)."""
        fragment = self.sender.encoder.fragment
        return [k.to_row(fragment(k.metadata, ("response",))) if k.metadata else k.to_row() for k in kept]

    def _flush(self) -> None:
        """Once per invocation, before the first new request: rewrite every derived file from
        the state rebuilt out of the log, so appends that follow extend a consistent file."""
        if self._rewritten:
            return
        state = self.state
        derived = self._derive_instances() if state.log.has("instances") else None
        self._files.rewrite(self.paths.instructions, self._kept_rows(state.kept))
        self.sender.encoder.clear()
        self._files.rewrite(self.paths.rejected, self._rejection_rows(derived))
        self._written = {"kept": len(state.kept), "rejected": len(state.boot_rejected)}
        self._rewritten = True
        self._instance_rejections_in_file = bool(derived and derived.rejected)
        for step in (self.classify, self.instances):
            self._rewrite_step_file(step)
        self._write_manifest()

    def _append_bootstrap(self) -> None:
        state, files = self.state, self._files
        files.append(self.paths.instructions, self._kept_rows(state.kept[self._written["kept"]:]))
        self.sender.encoder.clear()
        if self._instance_rejections_in_file:
            files.rewrite(self.paths.rejected, self._rejection_rows(self._derived))
        else:
            files.append(self.paths.rejected, [r.to_row() for r in state.boot_rejected[self._written["rejected"]:]])
        self._written = {"kept": len(state.kept), "rejected": len(state.boot_rejected)}

    # -- manifest, progress ---------------------------------------------------------------------------
    def counts(self) -> dict:
        return step_counts(self.state, self.classify, self.finetune_counts)

    def _write_manifest(self) -> None:
        if self.mode == "replay" and not self._rewritten:
            return
        old = read_manifest(self.paths.manifest) or {}
        timings = dict(old.get("timings") or {})
        for k, v in self.timings.items():
            timings[k] = round(v + float(self._timings_base.get(k, 0.0)), 3)
        write_json(self.paths.manifest, build_manifest(
            status=self.status, settings=self.settings, profile=self.profile, framing=self.framing,
            config=self.config, settings_hash=self.settings_hash, seed_count=len(self.seeds),
            versions=self._versions, counts=self.counts(), log=self.state.log, timings=timings,
            extra=self.manifest_extra))

    def _update_bar(self, bar, value: int, incremental: bool = False) -> None:
        log = self.state.log
        progress.update_bar(bar, value, incremental=incremental, kept=len(self.state.kept),
                            rejected=sum(self.state.rule_counts.values()), tokens=log.tokens_used,
                            cost=log.cost_used, failed=sum(s.failures for s in log.stats.values()))

    # -- the whole thing -----------------------------------------------------------------------------
    def run(self, steps: Sequence[str] = STEPS) -> str:
        """Run (or resume, or replay) the given steps; returns the final status."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        live = self.mode == "live"
        old = read_manifest(self.paths.manifest) if live else None
        if live:
            check_same_settings(old, hashed_settings(self.settings, self.profile, self.config), self.settings_hash,
                                self.paths.manifest, force=self.force)
        self._timings_base = dict((old or {}).get("timings") or {})
        self.state.log.add_all(load_requests(self.paths.requests) if live else (self.records or []))
        thresholds = gc.get_threshold()
        # A round allocates hundreds of thousands of short-lived objects, almost none in cycles:
        # young collections every 700 of them would cost a noticeable share of a round.
        gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
        try:
            for step in ("bootstrap", "classify", "instances"):
                go = live and step in steps and self.status == "running"
                t0 = time.monotonic()
                if step == "bootstrap":
                    self._run_bootstrap(go)
                else:
                    self._run_keyed(self.classify if step == "classify" else self.instances, go)
                if go:
                    self.timings[step] = self.timings.get(step, 0.0) + time.monotonic() - t0
            self._flush()
            if "finetune" in steps or not live:
                self._run_finetune()
            if self.status == "running" and self._complete():
                self.status = "complete" if live else "replayed"
            elif not live:
                self.status = "replayed"
            self._write_manifest()
        finally:
            progress.close_bar(self.sender.bar)  # an interrupted step's bar ends its line before the error
            gc.unfreeze()
            gc.set_threshold(*thresholds)
            self.sender.close()
            self._files.close()
        return self.status

    def _complete(self) -> bool:
        if not self.bootstrap.target_reached(self.state) and self.settings.num_instructions is not None:
            return False
        log = self.state.log
        done = all(log.result(s, k.instruction) is not None for k in self.state.kept for s in ("classify", "instances"))
        return done and self.finetune_counts is not None
