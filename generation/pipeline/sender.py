"""The one path a request takes: the backend, the shrink retries, the request log, the health
checks. Every generation method sends through it, so what a run records, what it pays and when it
gives up are the same whichever method made the requests.
"""
from __future__ import annotations

from collections.abc import Callable

from ..jsonl import JsonlAppender, SharedEncoder
from ..lm.base import LanguageModel, LMResult
from ..lm.config import BackendConfig
from ..rundir import now
from . import progress, shrink
from .health import Health
from .log import RequestIndex, make_records


class Sender:
    def __init__(self, requests_path, config: BackendConfig, index: RequestIndex, health: Health, *,
                 prompts_per_request: int = 1, shrink_max_tokens: bool = False, lm: LanguageModel | None = None,
                 on_stop: Callable[[str, str], None]) -> None:
        self.requests_path, self.config, self.index, self.health = requests_path, config, index, health
        self.prompts_per_request, self.shrink_max_tokens = prompts_per_request, shrink_max_tokens
        self.lm, self.on_stop = lm, on_stop
        self.encoder = SharedEncoder()  # a response's bytes, reused by the log and the rows kept from it
        self.bar = None  # the open step's progress bar, for the live status
        self._own_lm = False
        self._log_file: JsonlAppender | None = None

    def model(self) -> LanguageModel:
        """The backend, made on first use (a replay never makes one)."""
        if self.lm is None:
            from ..lm.factory import make_backend

            self.lm = make_backend(self.config, prompts_per_request=self.prompts_per_request)
            self._own_lm = True
        return self.lm

    def generate(self, requests: list) -> tuple[list[LMResult], list[float]]:
        """The model's answers and each one's cost. Touches only the backend, so it may run on
        a background thread. Under the shrink rule a request sent again with fewer tokens
        replaces its entry in `requests`, so the log records what was sent."""
        results, costs = self._generate_once(requests)
        for _ in range(shrink.RETRIES if self.shrink_max_tokens else 0):
            redo = [i for i, res in enumerate(results) if shrink.too_long(res)]
            if not redo:
                break
            again = [shrink.shrunk(requests[i]) for i in redo]
            more, more_costs = self._generate_once(again)
            for i, req, res, cost in zip(redo, again, more, more_costs):
                requests[i], results[i], costs[i] = req, res, costs[i] + cost
        return results, costs

    def _generate_once(self, requests: list) -> tuple[list[LMResult], list[float]]:
        lm = self.model()
        with progress.ticking(self.bar, lambda: progress.backend_status(lm)):
            results = lm.generate(requests)
        return results, [lm.cost_of(r.usage) for r in results]

    def log(self, step: str, requests: list, meta: list, results: list, costs: list) -> list[dict]:
        """Append a batch's records to the log (one write, prompt order) and index them. A
        failure no retry can fix is not logged (it cost nothing), so a resumed run sends that
        request again; it stops the run."""
        out = make_records(step, requests, meta, results, costs, now())
        fatal = self.health.fatal(out)
        written = out if fatal is None else [rec for rec in out if rec["response"] is not None]
        if self._log_file is None:
            self._log_file = JsonlAppender(self.requests_path)
        fragment = self.encoder.fragment
        self._log_file.write_many([rec if rec["response"] is None else {**rec, "response": fragment(rec["response"])}
                                   for rec in written])
        self.index.add_all(written)
        reason = fatal or self.health.after_batch(out)
        if reason is not None:
            self.on_stop("stopped_failures", reason)
        return out

    def send(self, step: str, requests: list, meta: list) -> list[dict]:
        return self.log(step, requests, meta, *self.generate(requests))

    def close(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_lm and self.lm is not None:
            self.lm.close()
