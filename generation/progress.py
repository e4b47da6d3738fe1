"""Live status for any command that waits on a model: what is in flight, retried, failed.

Shared by the generation pipeline's step bars and the evaluation commands' request bars, so a
slow or failing server looks the same wherever the user meets it.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .lm.base import LanguageModel


def backend_status(lm: LanguageModel) -> dict[str, Any]:
    """What a waiting user wants to see: requests in flight, retried, timed out, the last error."""
    out: dict[str, Any] = {}
    if lm.in_flight is not None:
        out["in_flight"] = lm.in_flight
    for key, name in (("retries", "retried"), ("error:timeout", "timed_out")):
        if lm.stats.get(key):
            out[name] = lm.stats[key]
    if lm.last_error:
        out["last_error"] = lm.last_error[:60]
    return out


@contextmanager
def ticking(bar: Any, status: Callable[[], dict[str, Any]], every: float = 2.0) -> Iterator[None]:
    """Refresh the bar's status every few seconds while a batch is out, so a slow or failing
    server shows within seconds rather than when the batch ends."""
    if bar is None:
        yield
        return
    done = threading.Event()

    def tick() -> None:
        while not done.wait(every):
            bar.set_postfix({**(getattr(bar, "counts", None) or {}), **status()}, refresh=True)

    thread = threading.Thread(target=tick, name="progress-status", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def requests_status(backends: Sequence[LanguageModel]) -> dict[str, Any]:
    """Failures summed over the backends, then each one's live status (the newest wins a key)."""
    out: dict[str, Any] = {"failed": sum(lm.stats.get("failed", 0) for lm in backends)}
    for lm in backends:
        for key, value in backend_status(lm).items():
            out[key] = value if key == "last_error" else out.get(key, 0) + value
    return out


@contextmanager
def request_bar(total: int, desc: str, backends: Sequence[LanguageModel], *, enabled: bool = True,
                every: float = 2.0) -> Iterator[Callable[[int], None]]:
    """A bar of answered requests (done/total) shown from the start, with failures, retries and
    the backend's live status refreshed while requests are out; yields the `progress` callback."""
    if not enabled:
        yield lambda n=1: None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="req", file=sys.stderr, dynamic_ncols=True, leave=True,
               postfix=requests_status(backends))

    def advance(n: int = 1) -> None:
        bar.update(n)

    try:
        with ticking(bar, lambda: requests_status(backends), every=every):
            yield advance
        bar.set_postfix(requests_status(backends), refresh=False)
    finally:
        bar.close()
