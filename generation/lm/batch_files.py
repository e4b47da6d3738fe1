"""The OpenAI batch file format, which `vllm run-batch` reads and writes too: request lines in,
result lines out, matched by `custom_id`.

Apart from the backend so that the format (ids, splitting at the API's limits, reading result
lines, validating a user's result files) is testable on plain bytes.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..jsonl import dumps_bytes, loads
from .base import LMResult
from .openai_wire import Retryable, parse_response

#: The Batch API's limits on one input file (https://platform.openai.com/docs/guides/batch).
MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024
URLS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


def custom_ids(tag: str, bodies: Sequence[bytes]) -> list[str]:
    """`<run tag>-<content hash>-<occurrence>`: the same requests get the same ids in every
    invocation of a run (so a rerun finds its batches), two equal requests in one call get two
    ids (each is answered), and another run's ids carry another tag."""
    seen: dict[str, int] = {}
    out = []
    for body in bodies:
        digest = hashlib.sha256(body).hexdigest()[:20]
        k = seen.get(digest, 0)
        seen[digest] = k + 1
        out.append(f"{tag}-{digest}-{k}")
    return out


def request_body(endpoint: str, kw: dict) -> dict:
    """A request's JSON body as the batch line carries it (extra_body merged, as the SDK would)."""
    body = {k: v for k, v in kw.items() if k != "extra_body"}
    body.update(kw.get("extra_body") or {})
    return body


def request_line(custom_id: str, endpoint: str, body: dict) -> bytes:
    return dumps_bytes({"custom_id": custom_id, "method": "POST", "url": URLS[endpoint], "body": body}) + b"\n"


def split_lines(lines: Sequence[bytes], max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES) -> list[list[int]]:
    """Line indices grouped into files within both limits, in order."""
    files: list[list[int]] = []
    size = 0
    for i, line in enumerate(lines):
        if len(line) > max_bytes:
            raise InputError(f"one request is {len(line)} bytes, over the Batch API's {max_bytes} per file")
        if not files or len(files[-1]) >= max_requests or size + len(line) > max_bytes:
            files.append([])
            size = 0
        files[-1].append(i)
        size += len(line)
    return files


def endpoint_of(url: str | None) -> str:
    return "chat" if url and url.rstrip("/").endswith("chat/completions") else "completions"


def result_of(line: dict, endpoint: str) -> LMResult:
    """An LMResult from one result line, parsed as a live answer is; an error line (or a
    non-200 answer) becomes a failure result naming the cause."""
    response = line.get("response") or {}
    error = line.get("error")
    status = response.get("status_code")
    body = response.get("body")
    if status == 200 and isinstance(body, dict):
        try:
            res = parse_response(body, endpoint)
        except Retryable as exc:
            return LMResult.failure(str(exc))
        res.usage.batch = True
        return res
    if isinstance(error, dict):
        return LMResult.failure(f"batch_{error.get('code') or 'error'}: {error.get('message') or ''}".rstrip(": "))
    detail = ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        detail = body["error"].get("message") or ""
    return LMResult.failure(f"http_{status}: {detail}".rstrip(": "))


def parse_result_bytes(data: bytes) -> dict[str, dict]:
    """A downloaded output or error file, by custom_id (a line that is not JSON is skipped: the
    request it belonged to then counts as failed and is resubmitted)."""
    out: dict[str, dict] = {}
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            line = loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("custom_id"), str):
            out[line["custom_id"]] = line
    return out


def read_result_files(paths: Sequence[str | Path], tag: str, known: set[str]) -> dict[str, dict]:
    """Result lines from files a user names (`--import-batch-output`), all validated before one
    is used: a line that is not JSON, has no custom_id, or holds an id this run never wrote to a
    request file (another run's results, or a stray file) is an InputError naming file and line."""
    out: dict[str, dict] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError("result file not found", file=path, field="--import-batch-output")
        for n, raw in enumerate(path.read_bytes().splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = loads(raw)
            except ValueError:
                raise InputError("not JSON", file=path, line=n) from None
            cid = line.get("custom_id") if isinstance(line, dict) else None
            if not isinstance(cid, str):
                raise InputError("a result line needs a custom_id", file=path, line=n)
            if not cid.startswith(f"{tag}-"):
                raise InputError(f"custom_id {cid!r} is another run's (this run's ids start with {tag}-)",
                                 file=path, line=n)
            if cid not in known:
                raise InputError(f"unknown custom_id {cid!r}: no request file of this run holds it",
                                 file=path, line=n)
            if not isinstance(line.get("response"), dict) and not isinstance(line.get("error"), dict):
                raise InputError("a result line needs a response or an error", file=path, line=n)
            out[cid] = line
    return out
