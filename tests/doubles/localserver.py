"""A real OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

Every area's tests talk to this server through the real `openai` SDK instead of mocking it, so
they exercise HTTP, JSON, timeouts, retries and connection pooling the way a vLLM or OpenAI
endpoint would. Responses come from a `responder` (scripted or rule-based); faults are injected
either at random (`fault_rate` over the `faults` kinds, reproducible from `seed`) or in a fixed
order (`script` / `inject`), so a test can say "the next request gets a 429".

Fault kinds (`FAULTS`):
  "429"            429 with a Retry-After header (`retry_after` seconds)
  "500", "503"     server errors with a JSON error body
  "timeout"        the server sleeps `slow_seconds` before answering (past the client timeout)
  "drop"           the connection is closed without a response
  "malformed"      200 with a body that is not JSON
  "empty_choices"  200 with `"choices": []`
  "length"         a normal answer cut to half its tokens, finish_reason "length"

What it saw, for behaviour checks: `received` (request bodies), `arrivals` (monotonic time, path,
fault of each request), `fault_counts`, `auth_headers` (so a test can check the key was sent),
`max_in_flight` (the most requests served at once). `require_api_key` answers 401 to any other
key. Nothing is written to stderr (no access log), so the key cannot leak from here.

A completions request whose `prompt` is a list of strings gets `n` choices per prompt, choice j
of prompt i at index i*n + j, as OpenAI and vLLM answer it; the responder sees one prompt at a
time. Faults apply to the whole request. `accept_list_prompts=False` answers a list prompt with
400, as some servers do.

Token counting is by whitespace-separated words: the server is a protocol double, not a model.
`latency` is each answer's time from request to response, building the answer included (as a
real server's generation happens within its latency, not after it).
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from selfinstruct.generation.jsonl import dumps_bytes

FAULTS = ("429", "500", "503", "timeout", "drop", "malformed", "empty_choices", "length")

Responder = Callable[[dict], "str | tuple[str, str]"]

_WORDS = (
    "the model writes a short answer about data tasks and lists three clear steps for each user "
    "who asks questions on science history cooking travel music code math health sports money "
    "time language art weather plants animals planets stories poems letters reviews summaries"
).split()
_PIECE = re.compile(r"\S+\s*")


def count_tokens(text: str) -> int:
    """Whitespace tokens: what this server reports as usage."""
    return len(text.split())


def _prompt_text(body: dict) -> str:
    if "messages" in body:
        return "\n".join(str(m.get("content", "")) for m in body.get("messages") or [])
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        return "\n".join(str(p) for p in prompt)
    return str(prompt)


def default_responder(body: dict) -> str:
    """Deterministic text derived from the prompt (and choice index when sampling).

    At temperature 0 every choice is the same, as greedy decoding would be; otherwise the choice
    index and `seed` vary the text, so n>1 gives distinct choices and a fixed seed repeats them.
    """
    sampling = body.get("temperature", 1.0) not in (0, 0.0)
    index = body.get("_index", 0) if sampling else 0
    key = json.dumps([_prompt_text(body), index, body.get("seed") if sampling else None])
    rng = random.Random(hashlib.sha256(key.encode()).digest())
    sentences = []
    for _ in range(6):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 9))]
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences[:3]) + "\n" + " ".join(sentences[3:])


def apply_stop(text: str, stop: Iterable[str]) -> tuple[str, bool]:
    """Cut at the earliest stop sequence; the sequence itself is not returned (OpenAI semantics)."""
    cut = None
    for s in stop:
        if s:
            i = text.find(s)
            if i >= 0 and (cut is None or i < cut):
                cut = i
    return (text, False) if cut is None else (text[:cut], True)


def truncate_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    if count_tokens(text) <= max_tokens:  # as many tokens as pieces below: nothing to cut
        return text, False
    pieces = _PIECE.findall(text.lstrip())
    lead = text[: len(text) - len(text.lstrip())]
    return (lead + "".join(pieces[:max_tokens])).rstrip(), True


@dataclass
class Arrival:
    """One request as the server saw it (for behaviour checks such as Retry-After)."""

    time: float  # time.monotonic() at arrival
    path: str
    fault: str | None
    body: dict | None = field(repr=False, default=None)


class LocalServer:
    """See the module docstring. Use as a context manager; `.base_url` ends in /v1."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        faults: Iterable[str] | None = None,
        seed: int = 0,
        model_name: str = "local-test-model",
        script: Iterable[str | None] = (),
        retry_after: float = 1.0,
        slow_seconds: float = 5.0,
        require_api_key: str | None = None,
        accept_list_prompts: bool = True,
        context_tokens: int | None = None,
    ) -> None:
        self.responder = responder or default_responder
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = tuple(faults) if faults is not None else FAULTS
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULTS}")
        self.model_name = model_name
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.require_api_key = require_api_key
        self.accept_list_prompts = accept_list_prompts
        self.context_tokens = context_tokens  # prompt + max_tokens above this: HTTP 400, as OpenAI says it
        self._rng = random.Random(seed)
        self._script: deque[str | None] = deque()
        self._lock = threading.Lock()
        self.received: list[dict] = []
        self.arrivals: list[Arrival] = []
        self.fault_counts: Counter[str] = Counter()
        self.auth_headers: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0  # most completion requests being served at once
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.inject(*script)

    def over_context(self, body: dict) -> str | None:
        """OpenAI's answer to a request whose prompt and max_tokens exceed the context."""
        if self.context_tokens is None:
            return None
        prompts = body.get("prompt")
        prompts = prompts if isinstance(prompts, list) else [_prompt_text(body)]
        need = max(count_tokens(str(p)) for p in prompts) + int(body.get("max_tokens") or 16)
        if need <= self.context_tokens:
            return None
        return (f"This model's maximum context length is {self.context_tokens} tokens, however you requested "
                f"{need} tokens. Please reduce your prompt; or completion length.")

    # -- control ---------------------------------------------------------------------------
    def inject(self, *faults: str | None) -> None:
        """Queue faults for the next requests, in order (None = a normal answer)."""
        for f in faults:
            if f is not None and f not in FAULTS:
                raise ValueError(f"unknown fault {f!r}; known: {FAULTS}")
        with self._lock:
            self._script.extend(faults)

    def start(self) -> "LocalServer":
        handler = type("Handler", (_Handler,), {"server_ref": self})
        httpd = _Server(("127.0.0.1", 0), handler)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="LocalServer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.arrivals.clear()
            self.fault_counts.clear()
            self.auth_headers.clear()
            self.max_in_flight = 0

    # -- request handling (called from handler threads) -------------------------------------
    def _choose_fault(self) -> str | None:
        with self._lock:
            if self._script:
                return self._script.popleft()
            if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.faults)
            return None

    def _record(self, path: str, body: dict | None, fault: str | None, auth: str | None) -> None:
        with self._lock:
            if body is not None:
                self.received.append(body)
            self.arrivals.append(Arrival(time.monotonic(), path, fault, body))
            self.auth_headers.append(auth)
            if fault is not None:
                self.fault_counts[fault] += 1

    def _respond_choice(self, body: dict, index: int) -> tuple[str, str | None]:
        out = self.responder({**body, "_index": index})
        if isinstance(out, tuple):
            return str(out[0]), out[1]
        return str(out), None

    def build_response(self, path: str, body: dict, fault: str | None) -> dict:
        """The JSON answer. A completions `prompt` given as a list of strings is answered the way
        OpenAI and vLLM do: `n` choices per prompt, choice j of prompt i at index i*n + j, each
        made by the responder from a body whose "prompt" is that one string (so responders never
        see lists), with stop sequences applied per choice and usage summed over the prompts."""
        chat = path.endswith("/chat/completions")
        stop = body.get("stop") or []
        if isinstance(stop, str):
            stop = [stop]
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 16
        n = int(body.get("n") or 1)
        prompt = body.get("prompt")
        if not chat and isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
            bodies = [{**body, "prompt": p} for p in prompt]
        else:
            bodies = [body]
        choices = []
        completion_tokens = prompt_tokens = 0
        for i, sub in enumerate(bodies):
            prompt_tokens += count_tokens(_prompt_text(sub))
            for j in range(n):
                choice, tokens = self._build_choice(sub, j, i * n + j, chat, stop, int(max_tokens), fault)
                choices.append(choice)
                completion_tokens += tokens
        return {
            "id": f"cmpl-{len(self.received)}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", self.model_name),
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    def _build_choice(self, body: dict, j: int, index: int, chat: bool, stop: list, max_tokens: int,
                      fault: str | None) -> tuple[dict, int]:
        """Choice j for one prompt, placed at `index` in the answer; returns it and its tokens."""
        text, finish = self._respond_choice(body, j)
        text, stopped = apply_stop(text, stop)
        text, cut = truncate_tokens(text, max_tokens)
        if fault == "length":
            text, cut = truncate_tokens(text, max(1, count_tokens(text) // 2))[0], True
        if cut:
            finish = "length"
        elif stopped or finish is None:
            finish = "stop"
        logprobs = None
        if body.get("logprobs"):
            toks = text.split()
            if chat:
                logprobs = {"content": [{"token": t, "logprob": -1.0, "bytes": None, "top_logprobs": []} for t in toks]}
            else:
                logprobs = {"tokens": toks, "token_logprobs": [-1.0] * len(toks),
                            "top_logprobs": [{t: -1.0} for t in toks], "text_offset": list(range(len(toks)))}
        if chat:
            choice = {"index": index, "message": {"role": "assistant", "content": text},
                      "finish_reason": finish, "logprobs": logprobs}
        else:
            choice = {"index": index, "text": text, "finish_reason": finish, "logprobs": logprobs}
        return choice, count_tokens(text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen() backlog: a burst of 64+ connects must not be refused


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    server_ref: LocalServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr access log
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else dumps_bytes(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "code": status}}, headers)

    def _authorized(self) -> bool:
        want = self.server_ref.require_api_key
        return want is None or self.headers.get("Authorization") == f"Bearer {want}"

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server_ref
        if self.path.rstrip("/") != "/v1/models":
            return self._error(404, f"no route {self.path}", "not_found")
        srv._record(self.path, None, None, self.headers.get("Authorization"))
        if not self._authorized():
            return self._error(401, "invalid api key", "invalid_request_error")
        self._send_json(200, {"object": "list", "data": [
            {"id": srv.model_name, "object": "model", "created": 0, "owned_by": "selfinstruct"}]})

    def do_POST(self) -> None:  # noqa: N802
        srv = self.server_ref
        with srv._lock:
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            self._post()
        finally:
            with srv._lock:
                srv.in_flight -= 1

    def _post(self) -> None:
        received = time.monotonic()
        srv = self.server_ref
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.rstrip("/")
        if path not in ("/v1/completions", "/v1/chat/completions"):
            return self._error(404, f"no route {self.path}", "not_found")
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return self._error(400, "request body is not JSON", "invalid_request_error")
        fault = srv._choose_fault()
        srv._record(path, body, fault, self.headers.get("Authorization"))
        if not self._authorized():
            return self._error(401, "invalid api key", "invalid_request_error")
        too_long = srv.over_context(body)
        if too_long is not None:
            return self._error(400, too_long, "invalid_request_error")
        # `latency` is the time to answer, the model's work included: an answer is built (and
        # encoded) first, then the rest of the latency is waited out, as a server whose
        # generation takes that long would answer.
        ready = None
        if fault in (None, "length", "empty_choices", "timeout") and ("messages" in body or "prompt" in body) \
                and (srv.accept_list_prompts or not isinstance(body.get("prompt"), list)):
            response = srv.build_response(path, body, fault)
            if fault == "empty_choices":
                response["choices"] = []
            ready = dumps_bytes(response)
        wait = srv.latency - (time.monotonic() - received)
        if wait > 0:
            time.sleep(wait)
        if fault == "429":
            return self._error(429, "rate limited", "rate_limit_exceeded",
                               {"Retry-After": f"{srv.retry_after:g}"})
        if fault in ("500", "503"):
            return self._error(int(fault), "server error (injected)", "server_error")
        if fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "timeout":
            time.sleep(srv.slow_seconds)
        if fault == "malformed":
            return self._send_json(200, b'{"id": "cmpl-x", "choices": [{"text": "unterminated')
        if "messages" not in body and "prompt" not in body:
            return self._error(400, "missing prompt or messages", "invalid_request_error")
        if not srv.accept_list_prompts and isinstance(body.get("prompt"), list):
            return self._error(400, "prompt must be a string", "invalid_request_error")
        self._send_json(200, ready)

