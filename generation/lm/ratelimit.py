"""Requests-per-minute and tokens-per-minute limits for the async client.

A token bucket per limit, refilled continuously: a burst up to one minute's allowance is let
through at once (what providers allow), then requests are paced. Token costs are estimated
before sending (prompt characters / 4 + max_tokens * n) because the real count is only known
afterwards; that over-estimates a little, which is the safe side for a TPM limit.
"""
from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, per_minute: float, *, burst: float | None = None) -> None:
        if per_minute <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = per_minute / 60.0
        self.capacity = burst if burst is not None else per_minute
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self, amount: float = 1.0) -> None:
        # A single request bigger than the bucket is let through when the bucket is full,
        # otherwise it could never run.
        amount = min(amount, self.capacity)
        async with self._lock:
            while True:
                self._refill()
                if self.tokens >= amount:
                    self.tokens -= amount
                    return
                await asyncio.sleep((amount - self.tokens) / self.rate)


class RateLimiter:
    """Both limits together; either may be None (unlimited)."""

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None) -> None:
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None

    async def acquire(self, estimated_tokens: int) -> None:
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            await self.tokens.acquire(estimated_tokens)


def estimate_tokens(prompt_chars: int, max_tokens: int, n: int = 1) -> int:
    return prompt_chars // 4 + 1 + max_tokens * max(1, n)
