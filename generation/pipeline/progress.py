"""Progress bars on stderr, one per step, with the run's live counts."""
from __future__ import annotations

import sys
from typing import Any

from ..progress import backend_status, ticking  # noqa: F401  the steps' bars use them from here


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
