"""A bootstrap round in flight: its requests sent now or on a background thread, its answers
collected (and logged) on the engine's thread.

Only the network wait runs on the background thread: the engine's state, the request log and
every derived file are touched by the engine's thread alone, in round order, which is what keeps
a run killed at any moment resumable (docs/pipeline.md, "Overlapped rounds").
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine


class Round:
    """One bootstrap round: its recorded answers, and the requests still to send, sent at
    once (or on a daemon thread, which never holds the process open). `collect` logs the new
    answers on the calling thread, so every write stays on the engine's thread, in order."""

    def __init__(self, engine: "Engine", r: int, recs: list, missing: Sequence[int] = (), requests: Sequence = (),
                 meta: Sequence[dict] = (), background: bool = False, after: "Round | None" = None) -> None:
        self.engine, self.r, self.recs, self._after = engine, r, recs, after
        self.missing, self.requests, self.meta = list(missing), list(requests), list(meta)
        self._answer: tuple | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if not self.requests:
            return
        if background:
            self._thread = threading.Thread(target=self._run, name=f"bootstrap-round-{r}", daemon=True)
            self._thread.start()
        else:
            self._run()

    def _run(self) -> None:
        if self._after is not None and self._after._thread is not None:
            self._after._thread.join()
        try:
            self._answer = self.engine._generate(self.requests)
        except BaseException as exc:  # re-raised on the engine's thread by collect()
            self._error = exc

    def collect(self) -> list[dict]:
        if self.requests:
            if self._thread is not None:
                self._thread.join()
            if self._error is not None:
                raise self._error
            logged = self.engine._log("bootstrap", self.requests, self.meta, *self._answer)
            for j, rec in zip(self.missing, logged):
                self.recs[j] = rec
            self.requests = []
        return self.recs
