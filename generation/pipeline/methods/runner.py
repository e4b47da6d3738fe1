"""The runner of the family methods: answers a stage's requests from the log or the model, and
writes the method's files.

A method is a plain loop that calls `ask` once per stage. `ask` returns every answer the stage
needs, taking recorded ones from `requests.jsonl` and sending only the rest, so the same loop is
a fresh run, a resumed run (the log replays the decisions already made) and an offline replay
(nothing is sent; a stage the log cannot answer ends the replay there).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...jsonl import write_json
from ...lm.base import LanguageModel, LMRequest, chunk_size_for
from ...lm.config import BackendConfig
from ...rundir import RunPaths, check_same_settings, load_requests, now, read_manifest, settings_hash, versions
from .. import progress
from ..health import Health
from ..log import RequestIndex, choice
from ..manifest import usage
from ..sender import Sender
from ..writer import DerivedFiles
from .settings import MethodSettings


class Halt(Exception):
    """The run cannot go on now (budget, failures, a replay past its log); its state is saved."""


@dataclass(frozen=True)
class Ask:
    key: str  # what the request is about, unique within its stage
    request: LMRequest
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    text: str
    finish_reason: str | None
    record: dict


class MethodRunner:
    def __init__(self, root: Path, settings: MethodSettings, config: BackendConfig, *, mode: str = "live",
                 records: list[dict] | None = None, lm: LanguageModel | None = None, progress_bars: bool = True,
                 force: bool = False) -> None:
        self.paths, self.settings, self.config, self.mode = RunPaths(Path(root)), settings, config, mode
        self.records, self.progress, self.force = records, progress_bars, force
        self.log = RequestIndex(retry_failed=True)
        self.health = Health(settings.max_failures, 0)
        self.status, self.stop_reason = "running", None
        self.sender = Sender(self.paths.requests, config, self.log, self.health, lm=lm, on_stop=self._stop)
        self.files = DerivedFiles()
        self.settings_hash = settings_hash(settings.hashed(config))
        self.counts: dict[str, Any] = {}
        self.started_at: str | None = None  # the first invocation's, kept across resumes

    def _stop(self, status: str, reason: str) -> None:
        if self.stop_reason is None:
            self.status, self.stop_reason = status, reason

    # -- answering a stage ----------------------------------------------------------------------------
    def ask(self, stage: str, asks: Sequence[Ask]) -> list[Answer | None]:
        """One answer per ask, in order; None for a request that failed. Raises Halt when the
        rest cannot be had now."""
        missing = [a for a in asks if self.log.result(stage, a.key) is None]
        if missing and self.mode == "replay":
            failed_only = all(self.log.has_key(stage, a.key) for a in missing)
            if not failed_only:
                raise Halt(f"the log ends in stage {stage}")
            missing = []
        if missing:
            self._send(stage, missing)
        out: list[Answer | None] = []
        for a in asks:
            rec = self.log.result(stage, a.key)
            c = choice(rec) if rec is not None else None
            out.append(None if c is None else Answer(c[0], c[1], rec))
        return out

    def _send(self, stage: str, missing: Sequence[Ask]) -> None:
        bar = self.sender.bar = progress.open_bar(stage, len(missing), self.progress)
        start, size = 0, 0
        try:
            while start < len(missing):
                if self.log.over_budget(self.settings.max_tokens, self.settings.max_cost):
                    self.status = "stopped_budget"
                    raise Halt("budget reached")
                # the backend, made only once something will be sent, says how much at once
                size = size or chunk_size_for(self.sender.model(), self.settings.concurrency, len(missing))
                chunk = missing[start:start + size]
                start += size
                self.sender.send(stage, [a.request for a in chunk], [{"key": a.key, **a.meta} for a in chunk])
                self.write_manifest()
                if bar is not None:
                    progress.update_bar(bar, len(chunk), incremental=True, kept=0, rejected=0,
                                        tokens=self.log.tokens_used, cost=self.log.cost_used,
                                        failed=sum(s.failures for s in self.log.stats.values()))
                if self.stop_reason is not None:
                    raise Halt(self.stop_reason)
        finally:
            progress.close_bar(bar)
            self.sender.bar = None

    # -- files ---------------------------------------------------------------------------------------
    def write(self, files: dict[str, list[dict]]) -> None:
        """Rewrite the method's derived files (atomically) from its state."""
        for rel, rows in files.items():
            path = self.paths.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            self.files.rewrite(path, rows)

    def write_manifest(self) -> None:
        if self.mode == "replay" and not self.counts:
            return
        write_json(self.paths.manifest, {
            "status": self.status, "method": self.settings.method, "profile": "default",
            "framing": self.settings.framing, "model": self.config.model, "backend": self.config.backend,
            "settings": {**asdict(self.settings), **self.config.public_dict()},
            "hashed_settings": self.settings.hashed(self.config), "settings_hash": self.settings_hash,
            "versions": versions(), "counts": self.counts, **usage(self.log),
            "stop_reason": self.stop_reason, "started_at": self.started_at, "updated_at": now(),
            **({"replay_of": self.settings.replay_of} if self.settings.replay_of else {}),
        })

    # -- the whole run ---------------------------------------------------------------------------------
    def run(self, method: Callable[[MethodRunner], None]) -> str:
        """Run the method's loop (it writes its files through `write`); the manifest is written
        whether it finishes or halts."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        live = self.mode == "live"
        old = read_manifest(self.paths.manifest) if live else None
        if live:
            check_same_settings(old, self.settings.hashed(self.config), self.settings_hash, self.paths.manifest,
                                force=self.force)
        self.started_at = (old or {}).get("started_at") or now()
        self.log.add_all(load_requests(self.paths.requests) if live else (self.records or []))
        try:
            try:
                method(self)
                if self.status == "running":
                    self.status = "complete" if live else "replayed"
            except Halt as halt:
                if self.status == "running":
                    self.status = "replayed" if not live else "stopped"
                self.stop_reason = self.stop_reason or str(halt)
            self.write_manifest()
        finally:
            self.sender.close()
            self.files.close()
        return self.status
