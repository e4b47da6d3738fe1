"""When to retry a failed request and how long to wait: pure functions over plain data.

Kept apart from the HTTP client so the policy can be tested without a network and reused by
any backend. The OpenAI SDK's own retries are disabled (max_retries=0) because they cannot be
counted, bounded per run, or shared with our rate limiter.
"""
from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

# Status codes worth another try: timeouts, conflicts, rate limits and server-side failures.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt k waits uniform(0.5, 1) * min(max, base * 2**k).

    Half-jitter keeps a floor under the wait (a server that just said "busy" gets at least half
    the nominal pause) while still spreading out a thundering herd. A server's Retry-After wins
    when it asks for longer, up to `max_retry_after`.
    """

    max_retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        r = (rng or random).uniform(0.5, 1.0)
        wait = r * min(self.max_delay, self.base_delay * (2 ** attempt))
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def parse_retry_after(headers: "dict[str, str] | None", now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


LOCAL_TIMEOUT = 900.0  # a server on this machine answers late, not never: wait for it
REMOTE_TIMEOUT = 120.0


def is_loopback(base_url: str | None) -> bool:
    """A server on this machine (localhost, 127.0.0.0/8, ::1)."""
    if not base_url:
        return False
    from urllib.parse import urlsplit

    host = (urlsplit(base_url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def default_timeout(base_url: str | None) -> float:
    """Per-request timeout when none is given: long for a local server, whose queue holds the
    work (a client that gives up and resends only adds to it), the usual for a remote API."""
    return LOCAL_TIMEOUT if is_loopback(base_url) else REMOTE_TIMEOUT
