"""The released scripts' one retry rule: when the API says the prompt plus max_tokens do not fit
("Please reduce your prompt"), ask again for 80% of the tokens, up to three more times.

Only the `upstream` profile follows it (`shrink_max_tokens`); the default profile keeps each
step's max_tokens fixed, so a request's recorded parameters are the spec's.
"""
from __future__ import annotations

from dataclasses import replace

from ..lm.base import LMRequest, LMResult

MARKER = "Please reduce your prompt"
FACTOR = 0.8
RETRIES = 3


def too_long(result: LMResult) -> bool:
    return not result.ok and MARKER in (result.error or "")


def shrunk(request: LMRequest) -> LMRequest:
    """The same request with max_tokens cut as the original cut it (`int(n * 0.8)`)."""
    params = request.params
    return replace(request, params=replace(params, max_tokens=max(1, int(params.max_tokens * FACTOR))))
