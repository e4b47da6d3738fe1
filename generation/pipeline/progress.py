"""Progress bars on stderr, one per step, with the run's live counts."""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..lm.base import LanguageModel


def open_bar(step: str, total: int | None, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=step, unit="inst" if step == "bootstrap" else "task", file=sys.stderr,
                dynamic_ncols=True, leave=True)


def update_bar(bar: Any, value: int, *, incremental: bool, kept: int, rejected: int, tokens: int,
               cost: float, failed: int) -> None:
    if bar is None:
        return
    bar.update(value if incremental else max(0, value - bar.n))
    bar.counts = dict(kept=kept, rejected=rejected, failed=failed, tokens=tokens, cost=f"${cost:.4f}")
    bar.set_postfix(bar.counts, refresh=False)


def close_bar(bar: Any) -> None:
    if bar is not None:
        bar.close()


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
