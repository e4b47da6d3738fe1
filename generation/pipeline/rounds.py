"""A bootstrap round in flight: its requests sent now or on a background thread, its answers
logged on the driver's thread.

Only the network wait runs on the background thread: the state, the request log and every
derived file are touched by the driver's thread alone, in round order, which is what keeps a run
killed at any moment resumable (docs/pipeline.md, "Overlapped rounds").
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from .steps.bootstrap import RoundPlan

Send = Callable[[list], tuple]  # requests -> (results, costs); touches only the backend
Log = Callable[[str, list, list, list, list], list]  # (step, requests, meta, results, costs) -> records


class Round:
    """One bootstrap round: its recorded answers, and the requests still to send, sent at once
    (or on a daemon thread, which never holds the process open, once `after`'s are answered)."""

    def __init__(self, plan: RoundPlan, send: Send | None = None, background: bool = False,
                 after: "Round | None" = None) -> None:
        self.plan, self.r, self._send, self._after = plan, plan.r, send, after
        self._answer: tuple | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if not plan.requests:
            return
        if background:
            self._thread = threading.Thread(target=self._run, name=f"bootstrap-round-{plan.r}", daemon=True)
            self._thread.start()
        else:
            self._run()

    def _run(self) -> None:
        if self._after is not None and self._after._thread is not None:
            self._after._thread.join()
        try:
            self._answer = self._send(self.plan.requests)
        except BaseException as exc:  # re-raised on the driver's thread by collect()
            self._error = exc

    def collect(self, log: Log) -> list[dict]:
        """The round's records in prompt order; new answers are logged on the calling thread."""
        plan = self.plan
        if plan.requests:
            if self._thread is not None:
                self._thread.join()
            if self._error is not None:
                raise self._error
            logged = log("bootstrap", plan.requests, plan.meta, *self._answer)
            for j, rec in zip(plan.missing, logged):
                plan.recs[j] = rec
            plan.requests = []
        return plan.recs
