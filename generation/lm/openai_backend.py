"""Any OpenAI-compatible server (OpenAI, vLLM, SGLang, llama.cpp, Ollama) through `AsyncOpenAI`.

Why this shape:
- `generate()` is synchronous for callers but runs an asyncio event loop on a private
  background thread, created once and reused. One loop for the backend's lifetime means one
  HTTP connection pool (keep-alive across batches) and no "event loop is closed" surprises when
  `generate()` is called many times, or from code that already has a running loop (notebooks).
- The SDK's retries are off (max_retries=0); `retry.RetryPolicy` decides, so every attempt is
  counted, Retry-After is honoured, and a request that still fails becomes an error result
  instead of an exception that would abort the batch.
- Prompt packing (`prompts_per_request=k`, completions endpoint only): requests with identical
  sampling params are grouped, in order, into packs of up to k and sent as ONE request with a
  list `prompt`, as OpenAI and vLLM accept. On a slow-ish 2-core client the SDK costs ~2.5 ms
  of CPU per HTTP request, so packing 5 prompts per request cuts client CPU per prompt ~5x.
  Choices come back at index prompt_i * n + j and are split back to their requests. The server
  reports usage for the whole pack only, so each request's share is apportioned (prompt tokens
  by prompt length, completion tokens by completion length; largest remainder, so the totals
  are exact). A pack is retried as a whole; one that still fails gives each of its requests an
  error result; a server that rejects list prompts (400/422) turns packing off for the backend
  and the pack's requests are resent one by one. Rate limits count one request per pack, and
  `concurrency` bounds HTTP requests in flight, whatever their size. Chat cannot pack.
- The API key lives only inside the SDK client. It is never stored on this object, never in a
  repr, never in a log record, and never in `raw` or `stats`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from ..jsonl import loads
from .base import BackendInfo, LMRequest, LMResult, ProgressCallback, SamplingParams, Usage
from .pricing import PriceTable, load_price_table
from .ratelimit import RateLimiter, estimate_tokens
from .openai_wire import (classify_error, httpx_module, parse_response,
                          split_pack_response, too_long_error)
from .retry import RetryPolicy, default_timeout, is_loopback

log = logging.getLogger("selfinstruct.lm.openai")

# Reasoning models take max_completion_tokens and reject max_tokens.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_POOL_SIZE = 16


class _Secret:
    """Holds the API key so that no repr, vars() dump or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value and len(self._value) >= 4 else text

    def __repr__(self) -> str:
        return "_Secret('***')"

    __str__ = __repr__


async def _cancel_others() -> None:
    """Requests still out when the backend closes (Ctrl-C mid-batch) are cancelled and awaited,
    so the loop stops with no pending task (asyncio would dump each one at exit)."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class OpenAICompatibleBackend(BackendInfo):
    # generate() from several threads shares one event loop and one bound on requests in flight
    concurrent_generate = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api: str = "auto",
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        timeout: float | None = None,
        max_retries: int = 6,
        price_table: PriceTable | str | None = None,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        extra_body: dict | None = None,
        prompts_per_request: int = 1,
    ) -> None:
        if api not in ("auto", "completions", "chat"):
            raise ValueError(f"api must be auto, completions or chat, not {api!r}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if prompts_per_request < 1:
            raise ValueError("prompts_per_request must be at least 1")
        self.model = model
        self.name = model
        self.api = api
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.concurrency = concurrency
        self.prompts_per_request = prompts_per_request
        self.local = is_loopback(self.base_url)  # $OPENAI_BASE_URL included
        self.in_flight = 0  # HTTP requests awaiting an answer: the live status shows them
        self.last_error: str | None = None
        self._packing_rejected = False  # set when the server answers a list prompt with 400/422
        self.timeout = timeout if timeout is not None else default_timeout(self.base_url)
        self.policy = RetryPolicy(max_retries=max_retries, base_delay=base_delay, max_delay=max_delay)
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.extra_body = dict(extra_body or {})
        self.price_table = price_table if isinstance(price_table, PriceTable) else load_price_table(price_table)
        self.usage = Usage()
        self.stats: Counter[str] = Counter()
        self._rng = random.Random()
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if self.base_url is None:
                raise ValueError("no API key: pass --api-key or set OPENAI_API_KEY "
                                 "(or point --base-url at a server that needs none)")
            key = "EMPTY"  # local servers (vLLM, llama.cpp, Ollama) accept any key
        self._key = _Secret(key)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: list[Any] = []
        self._free_pools: Any = None
        self._limiter: RateLimiter | None = None
        self._in_flight: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatibleBackend(model={self.model!r}, base_url={self.base_url!r}, api={self.api!r})"

    @property
    def cost_usd(self) -> float:
        return self.price_table.cost(self.model, self.usage)

    def cost_of(self, usage: Usage) -> float:
        return self.price_table.cost(self.model, usage)

    @property
    def priced(self) -> bool:
        return self.price_table.price(self.model) is not None

    # -- event loop on a private thread -----------------------------------------------------
    def start(self) -> None:
        """Start the event loop and build the HTTP clients now rather than on the first
        `generate` (a benchmark or a server process may want that cost out of the way)."""
        self._ensure_loop()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=f"lm-{self.model}", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
            asyncio.run_coroutine_threadsafe(self._setup(), loop).result()
        return self._loop

    async def _setup(self) -> None:
        from openai import AsyncOpenAI, DefaultAsyncHttpxClient

        httpx = httpx_module()
        # Several small connection pools instead of one big one: httpcore scans every pooled
        # connection each time it hands one out, which at 64+ connections costs more CPU than
        # the request itself. Each pool serves at most _POOL_SIZE requests at a time.
        n_pools = max(1, -(-self.concurrency // _POOL_SIZE))
        per_pool = -(-self.concurrency // n_pools)
        limits = httpx.Limits(max_connections=per_pool + 2, max_keepalive_connections=per_pool + 2)
        # One TLS context for all the pools, built the way the library builds its default: each
        # client building its own costs ~80 ms (loading the CA bundle), ~2 s at 384 concurrency.
        tls = {"verify": httpx.create_ssl_context()} if hasattr(httpx, "create_ssl_context") else {}
        self._clients = [
            AsyncOpenAI(
                api_key=self._key.reveal(),
                base_url=self.base_url,
                max_retries=0,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 30.0)),
                http_client=DefaultAsyncHttpxClient(limits=limits, **tls),
            )
            for _ in range(n_pools)
        ]
        self._free_pools = asyncio.Queue()
        for i in range(n_pools):
            for _ in range(per_pool):
                self._free_pools.put_nowait(i)
        self._limiter = RateLimiter(self.requests_per_minute, self.tokens_per_minute)
        # one bound for the backend, so overlapping generate() calls still keep `concurrency`
        self._in_flight = asyncio.Semaphore(self.concurrency)

    def close(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None
        try:
            asyncio.run_coroutine_threadsafe(_cancel_others(), loop).result(timeout=10)
            for client in self._clients:
                asyncio.run_coroutine_threadsafe(client.close(), loop).result(timeout=10)
        except Exception:  # closing is best effort
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()
        self._clients = []

    def __enter__(self) -> "OpenAICompatibleBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the protocol ----------------------------------------------------------------------
    def generate(self, requests: Sequence[LMRequest], progress: ProgressCallback | None = None) -> list[LMResult]:
        if not requests:
            return []
        loop = self._ensure_loop()
        future: Future = asyncio.run_coroutine_threadsafe(self._generate(list(requests), progress), loop)
        return future.result()

    async def _generate(self, requests: list[LMRequest], progress: ProgressCallback | None) -> list[LMResult]:
        sem = self._in_flight  # bounds HTTP requests in flight, packed or not, over all callers
        results: list[LMResult | None] = [None] * len(requests)

        async def run(idxs: list[int]) -> None:
            async with sem:
                if len(idxs) == 1:
                    outs = [await self._one(requests[idxs[0]])]
                else:
                    outs = await self._pack([requests[i] for i in idxs])
            for i, result in zip(idxs, outs):
                results[i] = result
                self.usage += result.usage
                self.stats["requests"] += 1
                self.stats["ok" if result.ok else "failed"] += 1
            if progress is not None:
                progress(len(idxs))

        await asyncio.gather(*(run(idxs) for idxs in self.plan_packs(requests)))
        return results  # type: ignore[return-value]

    def plan_packs(self, requests: Sequence[LMRequest]) -> list[list[int]]:
        """Request indices grouped into HTTP requests: completions requests with identical params
        in packs of up to `prompts_per_request`, in request order; everything else alone."""
        k = 1 if self._packing_rejected else self.prompts_per_request
        if k <= 1:
            return [[i] for i in range(len(requests))]
        packs: list[list[int]] = []
        open_packs: dict[SamplingParams, list[int]] = {}
        for i, req in enumerate(requests):
            if req.is_chat or self.endpoint_for(req) != "completions":
                packs.append([i])
                continue
            pack = open_packs.setdefault(req.params, [])
            if not pack:
                packs.append(pack)
            pack.append(i)
            if len(pack) == k:
                del open_packs[req.params]
        return packs  # ordered by first index, since a pack is listed when it opens

    def endpoint_for(self, req: LMRequest) -> str:
        if self.api == "chat" or (self.api == "auto" and req.is_chat):
            return "chat"
        return "completions"

    def request_kwargs(self, req: LMRequest) -> tuple[str, dict]:
        """The endpoint and the JSON arguments one request becomes (no secrets in here)."""
        p = req.params
        endpoint = self.endpoint_for(req)
        kw: dict[str, Any] = {"model": self.model, "temperature": p.temperature, "top_p": p.top_p, "n": p.n}
        if self.model.startswith(_REASONING_PREFIXES) and self.base_url is None:
            kw["max_completion_tokens"] = p.max_tokens
        else:
            kw["max_tokens"] = p.max_tokens
        if p.stop:
            kw["stop"] = list(p.stop)
        if p.presence_penalty:
            kw["presence_penalty"] = p.presence_penalty
        if p.frequency_penalty:
            kw["frequency_penalty"] = p.frequency_penalty
        if p.seed is not None:
            kw["seed"] = p.seed
        if endpoint == "chat":
            kw["messages"] = list(req.messages) if req.is_chat else [{"role": "user", "content": req.prompt}]
            if p.logprobs is not None:
                kw["logprobs"] = True
                kw["top_logprobs"] = p.logprobs
        else:
            kw["prompt"] = req.prompt
            if p.logprobs is not None:
                kw["logprobs"] = p.logprobs
        if self.extra_body:
            kw["extra_body"] = self.extra_body
        return endpoint, kw

    async def _one(self, req: LMRequest) -> LMResult:
        if req.is_chat and self.api == "completions":
            return LMResult.failure("chat messages need the chat endpoint (use --api chat or auto)", attempts=0)
        endpoint, kw = self.request_kwargs(req)
        prompt_chars = len(req.prompt or "") + sum(len(m.get("content", "")) for m in (req.messages or ()))
        estimate = estimate_tokens(prompt_chars, req.params.max_tokens, req.params.n)
        parsed, attempts, error = await self._call(endpoint, kw, estimate, lambda data: parse_response(data, endpoint))
        if error is not None:
            return LMResult.failure(error, attempts=attempts)
        parsed.attempts = attempts
        return parsed

    async def _pack(self, reqs: list[LMRequest]) -> list[LMResult]:
        """One HTTP request for several prompts with the same params (see the module docstring)."""
        endpoint, kw = self.request_kwargs(reqs[0])
        prompts = [r.prompt or "" for r in reqs]
        kw["prompt"] = prompts
        n = reqs[0].params.n
        estimate = estimate_tokens(sum(map(len, prompts)), reqs[0].params.max_tokens, n * len(reqs))
        self.stats["packs"] += 1
        parsed, attempts, error = await self._call(endpoint, kw, estimate,
                                                   lambda data: split_pack_response(data, prompts, n))
        if error is not None and error.startswith(("http_400", "http_422")) and not too_long_error(error):
            if not self._packing_rejected:
                log.warning("the server rejected a list prompt (%s); sending one prompt per request from now on", error)
            self._packing_rejected = True
            return [await self._one(r) for r in reqs]  # one after another: this holds one concurrency slot
        if error is not None:
            return [LMResult.failure(error, attempts=attempts) for _ in reqs]
        for r in parsed:
            r.attempts = attempts
        return parsed

    async def _call(self, endpoint: str, kw: dict, estimate: int, parse: Callable[[Any], Any]) -> tuple[Any, int, str | None]:
        """Send one HTTP request with retries: (parse(json), attempts, None) or (None, attempts, error)."""
        # Raw responses: the server's JSON is what we keep anyway, and skipping the SDK's model
        # construction and re-dumping saves most of the client's CPU per request.
        attempt = 0
        while True:
            if self._limiter is not None:
                await self._limiter.acquire(estimate)
            try:
                pool = await self._free_pools.get()
                self.stats["http_requests"] += 1
                self.in_flight += 1
                try:
                    client = self._clients[pool]
                    resource = client.chat.completions if endpoint == "chat" else client.completions
                    response = await resource.with_raw_response.create(**kw)
                finally:
                    self.in_flight -= 1
                    self._free_pools.put_nowait(pool)
                return parse(loads(response.http_response.content)), attempt + 1, None
            except Exception as exc:  # every failure is classified; none escapes the batch
                retryable, retry_after, message = classify_error(exc)
                message = self._key.scrub(message)  # a server may echo the key in an error body
                self.stats[f"error:{message.split(':')[0]}"] += 1
                self.last_error = message
                if message.startswith("timeout") and self.local:
                    retryable = False  # a local server goes on with the work: sending it again doubles it
                if not retryable or attempt >= self.policy.max_retries:
                    log.warning("request failed after %d attempt(s): %s", attempt + 1, message)
                    return None, attempt + 1, message
                delay = self.policy.delay(attempt, retry_after, self._rng)
                log.debug("attempt %d failed (%s); retrying in %.2fs", attempt + 1, message, delay)
                self.stats["retries"] += 1
                attempt += 1
                await asyncio.sleep(delay)
