"""What the OpenAI-compatible wire format means: a response body turned into results (one prompt
or a pack of them), and a failed attempt classified as worth retrying or not.

Apart from the backend's request loop so that each stays small and the parsing is testable on
plain JSON.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import Choice, LMResult, Usage
from .retry import is_retryable_status, parse_retry_after


class Retryable(Exception):
    """A 200 answer that is unusable (no choices): worth another try."""


def parse_response(data: Any, endpoint: str) -> LMResult:
    """An LMResult from the JSON body of a completions or chat answer (raises if unusable)."""
    choices_in = data.get("choices") if isinstance(data, dict) else None
    if not choices_in or not isinstance(choices_in, list):
        raise Retryable("empty_choices: the server returned no choices")
    choices = []
    for c in sorted(choices_in, key=lambda c: c.get("index") or 0):
        if endpoint == "chat":
            text = (c.get("message") or {}).get("content") or ""
        else:
            text = c.get("text") or ""
        finish = "length" if c.get("finish_reason") == "length" else "stop"
        choices.append(Choice(text, finish, c.get("logprobs")))
    u = data.get("usage") or {}
    usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
    return LMResult(choices=choices, usage=usage, raw=data)


def split_pack_response(data: Any, prompts: Sequence[str], n: int) -> list[LMResult]:
    """One LMResult per prompt from the answer to a list prompt (raises if unusable).

    Choice j of prompt i is at index i*n + j. Each result's `raw` is the answer narrowed to its
    own choices (re-indexed from 0) and its usage share; the shares are apportioned from the
    pack's totals (see `apportion`), so summing them gives the server's figures exactly."""
    choices_in = data.get("choices") if isinstance(data, dict) else None
    if not choices_in or not isinstance(choices_in, list):
        raise Retryable("empty_choices: the server returned no choices")
    groups: list[list[dict]] = [[] for _ in prompts]
    for c in choices_in:
        index = c.get("index") if isinstance(c, dict) else None
        if not isinstance(index, int) or not 0 <= index < n * len(prompts):
            raise Retryable(f"bad_pack: choice index {index!r} outside 0..{n * len(prompts) - 1}")
        groups[index // n].append(c)
    if any(len(g) != n for g in groups):
        raise Retryable(f"bad_pack: expected {n} choice(s) for each of {len(prompts)} prompts, "
                         f"got {[len(g) for g in groups]}")
    u = data.get("usage") or {}
    completion_chars = [sum(len(c.get("text") or "") for c in g) for g in groups]
    prompt_shares = apportion(int(u.get("prompt_tokens") or 0), [len(p) for p in prompts])
    completion_shares = apportion(int(u.get("completion_tokens") or 0), completion_chars)
    out = []
    for g, pt, ct in zip(groups, prompt_shares, completion_shares):
        own = [{**c, "index": c["index"] % n} for c in sorted(g, key=lambda c: c["index"])]
        raw = {**data, "choices": own, "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}}
        out.append(parse_response(raw, "completions"))
    return out


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` (equal split if they are all zero) by largest
    remainder: integer shares that always sum to `total`."""
    if not weights:
        return []
    wsum = float(sum(weights))
    exact = [total * w / wsum for w in weights] if wsum > 0 else [total / len(weights)] * len(weights)
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (shares[i] - exact[i], i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def too_long_error(error: str) -> bool:
    """A 400 about the context length concerns the prompts' size, not the list: the pack fails
    as a whole, as one prompt of that size would."""
    return any(m in error for m in ("maximum context length", "Please reduce your prompt",
                                    "exceeds the available context size"))  # OpenAI's words, llama.cpp's


def httpx_module() -> Any:
    """The HTTP library the installed SDK is built on (httpx2 in openai>=3, httpx before)."""
    try:
        import httpx2

        return httpx2
    except ImportError:
        import httpx

        return httpx


def classify_error(exc: Exception) -> tuple[bool, float | None, str]:
    """(retryable, server-requested wait, short message) for one failed attempt."""
    import openai

    if isinstance(exc, Retryable):
        return True, None, str(exc)
    if isinstance(exc, openai.APITimeoutError):
        return True, None, "timeout: no response within the timeout"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return True, None, f"connection: {type(cause).__name__}: {cause}".splitlines()[0][:300]
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retry_after = parse_retry_after(dict(exc.response.headers)) if exc.response is not None else None
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = (body.get("message") or body.get("error", {}).get("message") if isinstance(body.get("error", {}), dict) else None) or ""
        return is_retryable_status(status), retry_after, f"http_{status}: {detail}".rstrip(": ")
    # Malformed JSON, schema mismatches and the like: the server answered, but not usefully.
    return True, None, f"bad_response: {type(exc).__name__}: {exc}".splitlines()[0][:300]
