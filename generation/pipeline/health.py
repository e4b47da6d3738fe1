"""When a run cannot make progress: failures no retry can fix, a window of requests that all
failed, or rounds whose replies never pass the filters.

Each check returns the one line the user sees, naming the cause and the flag to change, or None.
The driver then stops the step with the run's state saved, so the same command resumes it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

_FATAL_STATUS = {
    "http_401": "the server refused the API key (HTTP 401): set --api-key or OPENAI_API_KEY",
    "http_403": "the server denied access (HTTP 403): check the API key's permissions and --model",
    "http_404": "the server knows no such model or endpoint (HTTP 404): check --model and --base-url",
}


def fatal_cause(error: str | None, *, any_success: bool) -> str | None:
    """A failure that retrying cannot fix. A connection error counts only while no request of
    the run has succeeded: a server that was never reachable is a wrong URL or a stopped server,
    one that answered before may be restarting."""
    if not error:
        return None
    kind = error.split(":", 1)[0]
    if kind in _FATAL_STATUS:
        return f"{_FATAL_STATUS[kind]} ({error})"
    if kind == "connection" and not any_success:
        return f"cannot reach the server: check --base-url and that the server is running ({error})"
    return None


@dataclass
class Health:
    max_failures: int  # consecutive failed requests before the step stops
    max_empty_rounds: int  # consecutive answered bootstrap rounds that kept nothing
    failures: int = 0
    empty_rounds: int = 0
    successes: int = 0
    last_error: str | None = None

    def fatal(self, records: Sequence[dict]) -> str | None:
        """The fatal cause among a batch's failures, judged before the batch is logged."""
        any_success = self.successes > 0 or any(r["response"] is not None for r in records)
        for rec in records:
            if rec["response"] is None:
                cause = fatal_cause(rec.get("error"), any_success=any_success)
                if cause is not None:
                    return cause
        return None

    def after_batch(self, records: Sequence[dict]) -> str | None:
        timed_out = bool(records) and all(rec["response"] is None and (rec.get("error") or "").startswith("timeout")
                                          for rec in records)
        for rec in records:
            if rec["response"] is None:
                self.failures += 1
                self.last_error = rec.get("error")
            else:
                self.failures = 0
                self.successes += 1
        if timed_out and self.max_failures:  # each one already waited out its timeout (and retries)
            return (f"all {len(records)} requests of the last batch timed out ({self.last_error}); the server is "
                    "slower than the timeout: raise --timeout, or lower --concurrency so it keeps up")
        if self.max_failures and self.failures >= self.max_failures:
            hint = ("raise --timeout, or lower --concurrency so the server keeps up"
                    if (self.last_error or "").startswith("timeout") else
                    "check the server, lower --concurrency, or raise --max-failures")
            return f"{self.failures} requests in a row failed (last: {self.last_error}); {hint}"
        return None

    def after_round(self, answered: bool, kept_any: bool) -> str | None:
        if not answered:
            return None
        self.empty_rounds = 0 if kept_any else self.empty_rounds + 1
        if self.max_empty_rounds and self.empty_rounds >= self.max_empty_rounds:
            return (f"{self.empty_rounds} rounds in a row kept no instruction: the model's replies do not pass the "
                    "filters (rejected.jsonl says which rules fire); try another --model or --framing, or raise "
                    "--max-empty-rounds")
        return None
