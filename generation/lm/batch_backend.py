"""Batch mode as a backend: `generate()` hands its requests to a Batch API (OpenAI's, or a peer's
with the same endpoints), waits, and returns the answers in request order, as every backend does.
The Sender logs them to requests.jsonl exactly as live answers, so resume, replay and the dataset
build see no difference.

Never paying twice is the ledger's job (`batch_ledger`): every request gets a `custom_id` from
its content, and a file id, then a batch id, is fsynced to the run directory before the backend
waits for anything. A rerun rebuilds the same missing requests (the steps are deterministic),
finds their ids in the ledger and polls those batches. The one window left, between creating a
batch and writing its id, is closed by the "uploaded" entry written before the create: a rerun
looks the batch up by its input file among the account's batches before creating one.

Items a batch failed or let expire are resubmitted once in a new batch, or sent live
(`--batch-failed live`). Offline (`--batch-files-only`, `--import-batch-output`), the request
files are written for `vllm run-batch` and results are read from the files the user names.
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..errors import FilesWritten, InputError, RunStopped
from ..jsonl import atomic_writer, dumps_bytes
from ..redact import redact_url
from ..rundir import now
from .base import BackendInfo, LMRequest, LMResult, ProgressCallback, Usage
from .batch_files import (MAX_BYTES, MAX_REQUESTS, URLS, custom_ids, parse_result_bytes, read_result_files,
                          request_body, request_line, result_of, split_lines)
from .batch_ledger import TERMINAL, Ledger
from .config import BackendConfig
from .openai_backend import OpenAICompatibleBackend, _Secret
from .pricing import load_price_table
from .ratelimit import estimate_tokens
from .retry import default_timeout

log = logging.getLogger("selfinstruct.lm.batch")


def poll_interval_from_env() -> float:
    """SELFINSTRUCT_BATCH_POLL_SECONDS: the first wait between polls (tests poll in milliseconds)."""
    value = os.environ.get("SELFINSTRUCT_BATCH_POLL_SECONDS")
    try:
        return float(value) if value else 5.0
    except ValueError:
        raise InputError(f"not a number: {value!r}", field="SELFINSTRUCT_BATCH_POLL_SECONDS") from None


def open_client(base_url: str | None, api_key: str | None, timeout: float | None = None):
    """A synchronous SDK client for the files and batches endpoints (the key stays inside it)."""
    from openai import OpenAI

    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = api_key or os.environ.get("OPENAI_API_KEY") or ("EMPTY" if base_url else None)
    if not key:
        raise InputError("no API key: pass --api-key or set OPENAI_API_KEY", field="--api-key")
    return OpenAI(api_key=key, base_url=base_url, max_retries=4,
                  timeout=timeout if timeout is not None else default_timeout(base_url))


class BatchAPIBackend(BackendInfo):
    whole_steps = True  # each generate() is one wait for a batch; the backend splits at the API's limits

    def __init__(self, config: BackendConfig, *, poll_interval: float | None = None, max_poll: float = 60.0,
                 max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES) -> None:
        super().__init__()
        if not config.batch_dir:
            raise InputError("batch mode needs a folder for its ledger", field="--batch-dir")
        self.config, self.name, self.model = config, config.model, config.model
        self.offline = not config.batch_api  # files only, or results imported from files
        self.ledger = Ledger.open(config.batch_dir)
        self.price_table = load_price_table(config.price_table)
        self.poll_interval = poll_interval if poll_interval is not None else poll_interval_from_env()
        self.max_poll, self.max_requests, self.max_bytes = max_poll, max_requests, max_bytes
        key = config.api_key or os.environ.get("OPENAI_API_KEY")
        offline_key = None if key or config.base_url or not self.offline else "EMPTY"  # never sent
        # Builds each request's JSON exactly as live requests are built, and sends live resends.
        self.wire = OpenAICompatibleBackend(config.model, base_url=config.base_url, api_key=key or offline_key,
                                            api=config.api, concurrency=config.concurrency,
                                            timeout=config.timeout, max_retries=config.max_retries,
                                            price_table=self.price_table)
        self.concurrency = config.concurrency  # of the live resends (--batch-failed live)
        self.live_usage = Usage()  # the tokens of items sent live (paid at live prices) so far
        self._key = _Secret(key or "")
        self._client = None
        self._imported: dict[str, dict] | None = None
        self._outputs: dict[str, dict[str, dict]] = {}
        self.in_flight = 0
        self.stats: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"BatchAPIBackend(model={self.model!r}, batch_dir={self.config.batch_dir!r})"

    @property
    def cost_usd(self) -> float:
        batched = Usage(self.usage.prompt_tokens - self.live_usage.prompt_tokens,
                        self.usage.completion_tokens - self.live_usage.completion_tokens)
        return self._batch_cost(batched) + self.wire.cost_of(self.live_usage)

    def cost_of(self, usage: Usage) -> float:
        """Batch prices for an answer that came back in a batch, live ones for a live resend."""
        return self._batch_cost(usage) if usage.batch else self.wire.cost_of(usage)

    def _batch_cost(self, usage: Usage) -> float:
        return self.price_table.cost(self.model, usage, batch=True)

    def client(self):
        if self._client is None:
            self._client = open_client(self.config.base_url, self._key.reveal() or None, self.config.timeout)
        return self._client

    def close(self) -> None:
        self.wire.close()
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the protocol ------------------------------------------------------------------------
    def generate(self, requests: Sequence[LMRequest], progress: ProgressCallback | None = None) -> list[LMResult]:
        if not requests:
            return []
        lines = [self._line(r) for r in requests]
        ids = custom_ids(self.ledger.tag, [dumps_bytes(body) for _, body in lines])
        results: dict[str, LMResult] = {}
        for i, (endpoint, body) in enumerate(lines):
            if endpoint is None:
                results[ids[i]] = LMResult.failure("chat messages need the chat endpoint (use --api chat or auto)",
                                                   attempts=0)
        self._take_imported(ids, lines, results)
        if self.offline:
            missing = [i for i, cid in enumerate(ids) if cid not in results]
            if missing:
                raise FilesWritten(self._write_files(missing, ids, lines))
        else:
            self._run_batches(ids, lines, results, progress)
        if self.config.batch_failed == "live":
            self._send_live([i for i, cid in enumerate(ids) if not results[cid].ok], requests, ids, results)
        out = [results[cid] for cid in ids]
        for res in out:
            self.usage += res.usage
            self.stats["requests"] += 1
            self.stats["ok" if res.ok else "failed"] += 1
        return out

    def _line(self, req: LMRequest) -> tuple[str | None, dict]:
        if req.is_chat and self.config.api == "completions":
            return None, {"unsendable": list(req.messages or ())}
        endpoint, kw = self.wire.request_kwargs(req)
        return endpoint, request_body(endpoint, kw)

    # -- offline: files for vllm run-batch, results from files -------------------------------
    def _take_imported(self, ids: list[str], lines: list, results: dict[str, LMResult]) -> None:
        if not self.config.import_batch_output:
            return
        if self._imported is None:  # every file validated before any answer is used
            self._imported = read_result_files(self.config.import_batch_output, self.ledger.tag,
                                               self.ledger.known_ids())
        for cid, (endpoint, _) in zip(ids, lines):
            if cid not in results and cid in self._imported:
                results[cid] = result_of(self._imported[cid], endpoint or "completions")
                self.stats["imported"] += 1

    def _write_files(self, missing: list[int], ids: list[str], lines: list) -> str:
        written = {cid: e["file"] for e in self.ledger.of_kind("written") for cid in e["custom_ids"]}
        files = {written[ids[i]] for i in missing if ids[i] in written}
        new = [i for i in missing if ids[i] not in written]
        folder = Path(self.config.batch_dir) / "batch_requests"
        for endpoint, group in _by_endpoint(new, lines).items():
            data = [request_line(ids[i], endpoint, lines[i][1]) for i in group]
            for chunk in split_lines(data, self.max_requests, self.max_bytes):
                name = f"requests-{self.ledger.tag}-{len(self.ledger.of_kind('written')) + 1:04d}.jsonl"
                path = folder / name
                folder.mkdir(parents=True, exist_ok=True)
                _write_bytes(path, b"".join(data[j] for j in chunk))
                self.ledger.append({"kind": "written", "file": str(path), "endpoint": URLS[endpoint],
                                    "custom_ids": [ids[group[j]] for j in chunk], "created_at": now()})
                files.add(str(path))
        names = " ".join(sorted(files))
        return (f"wrote {len(missing)} batch request(s) to {names}; run `vllm run-batch -i FILE -o RESULTS "
                f"--model {self.model}` on each, then rerun this command with --import-batch-output RESULTS... "
                f"(every result file so far)")

    # -- the Batch API -----------------------------------------------------------------------
    def _run_batches(self, ids: list[str], lines: list, results: dict[str, LMResult],
                     progress: ProgressCallback | None) -> None:
        wanted = [cid for cid in ids if cid not in results]
        by_id = dict(zip(ids, range(len(ids))))
        self._adopt_uploads()
        while True:
            self._collect(wanted, results, progress)
            subs = self.ledger.submissions()
            retry = self.config.batch_failed == "resubmit"
            todo = [by_id[cid] for cid in wanted
                    if subs.get(cid, 0) == 0 or (retry and subs[cid] == 1 and not results[cid].ok)]
            if not todo:
                return
            if any(subs.get(ids[i], 0) for i in todo):
                self.stats["resubmitted"] += sum(1 for i in todo if subs.get(ids[i], 0))
            self._submit(todo, ids, lines)

    def _submit(self, todo: list[int], ids: list[str], lines: list) -> None:
        """Upload and create batches for these requests; each is in the ledger before any wait."""
        files = []
        for endpoint, group in _by_endpoint(todo, lines).items():
            data = [request_line(ids[i], endpoint, lines[i][1]) for i in group]
            for chunk in split_lines(data, self.max_requests, self.max_bytes):
                members = [group[j] for j in chunk]
                estimate = self._batch_cost(_upper_bound([lines[i][1] for i in members]))
                files.append((endpoint, b"".join(data[j] for j in chunk), [ids[i] for i in members], estimate))
        self.check_cost(sum(f[3] for f in files))
        client = self.client()
        for endpoint, data, members, estimate in files:
            name = f"batch-{self.ledger.tag}-{len(self.ledger.of_kind('uploaded')) + 1:04d}.jsonl"
            uploaded = self._api(lambda: client.files.create(file=(name, data), purpose="batch"))
            self.ledger.append({"kind": "uploaded", "input_file_id": uploaded.id, "endpoint": URLS[endpoint],
                                "custom_ids": members, "estimate_usd": round(estimate, 6), "created_at": now()})
            self._create(self.ledger.entries[-1])

    def check_cost(self, estimate: float) -> None:
        limit = self.config.batch_max_cost
        # read afresh: backends sharing the folder (one per --judge-model) append to it too
        spent = Ledger.open(self.ledger.root, create=False).spent_usd()
        if limit is not None and spent + estimate > limit:
            raise InputError(f"the batch's upper-bound cost ${estimate:.4f} (max_tokens for every answer) plus "
                             f"${spent:.4f} already in batches exceeds ${limit:g}; nothing was submitted",
                             field="--max-cost")

    def _create(self, uploaded: dict) -> None:
        client = self.client()
        batch = self._api(lambda: client.batches.create(
            input_file_id=uploaded["input_file_id"], endpoint=uploaded["endpoint"], completion_window="24h",
            metadata={"selfinstruct_run": self.ledger.tag}))
        self._record_submitted(uploaded, batch.id)

    def _record_submitted(self, uploaded: dict, batch_id: str) -> None:
        self.ledger.append({**uploaded, "kind": "submitted", "batch_id": batch_id, "created_at": now(),
                            "base_url": _public_url(self.config.base_url)})
        self.stats["batches"] += 1

    def _adopt_uploads(self) -> None:
        """Uploaded files without a recorded batch (a kill between the two): the batch made from
        the file, if the API has one, else a new one from the same file."""
        batched = {e["input_file_id"] for e in self.ledger.of_kind("submitted")}
        orphans = [e for e in self.ledger.of_kind("uploaded") if e["input_file_id"] not in batched]
        if not orphans:
            return
        client = self.client()
        existing = {b.input_file_id: b.id for b in self._api(lambda: client.batches.list(limit=100))}
        for entry in orphans:
            if entry["input_file_id"] in existing:
                self._record_submitted(entry, existing[entry["input_file_id"]])
            else:
                self._create(entry)

    def _collect(self, wanted: list[str], results: dict[str, LMResult], progress: ProgressCallback | None) -> None:
        """Answers from every batch holding these ids, oldest first; a later batch's answer
        replaces an earlier failure."""
        want = set(wanted)
        for entry in self.ledger.batches_holding(want):
            endpoint = "chat" if entry["endpoint"].endswith("chat/completions") else "completions"
            status, lines = self._wait(entry, progress)
            for cid in entry["custom_ids"]:
                if cid not in want:
                    continue
                line = lines.get(cid)
                res = result_of(line, endpoint) if line else LMResult.failure(f"batch_{status}: no result")
                if cid not in results or not results[cid].ok:
                    results[cid] = res

    def _wait(self, entry: dict, progress: ProgressCallback | None) -> tuple[str, dict[str, dict]]:
        batch_id = entry["batch_id"]
        if batch_id in self._outputs:
            return self._outputs[batch_id]["status"], self._outputs[batch_id]["lines"]
        client, delay, reported = self.client(), self.poll_interval, 0
        while True:
            batch = self._api(lambda: client.batches.retrieve(batch_id))
            counts = batch.request_counts
            finished = (counts.completed + counts.failed) if counts else 0
            total = (counts.total if counts else 0) or len(entry["custom_ids"])
            self.in_flight = max(0, total - finished)
            self.last_error = f"batch {batch_id}: {batch.status} ({finished}/{total})"
            if progress is not None and finished > reported:
                progress(finished - reported)
                reported = finished
            if batch.status in TERMINAL:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, self.max_poll)
        lines: dict[str, dict] = {}
        for file_id in (batch.error_file_id, batch.output_file_id):  # an answer wins over an error
            if file_id:
                lines.update(parse_result_bytes(self._api(lambda: client.files.content(file_id)).content))
        self.in_flight = 0
        self._outputs[batch_id] = {"status": batch.status, "lines": lines}
        if self.ledger.done(batch_id) is None:
            endpoint = "chat" if entry["endpoint"].endswith("chat/completions") else "completions"
            usage = Usage()
            for line in lines.values():
                usage += result_of(line, endpoint).usage
            ok = sum(1 for line in lines.values() if result_of(line, endpoint).ok)
            self.ledger.append({"kind": "done", "batch_id": batch_id, "status": batch.status,
                                "counts": {"total": len(entry["custom_ids"]), "ok": ok,
                                           "failed": len(entry["custom_ids"]) - ok},
                                "usage": {"prompt_tokens": usage.prompt_tokens,
                                          "completion_tokens": usage.completion_tokens},
                                "cost_usd": round(self._batch_cost(usage), 6), "created_at": now()})
        return batch.status, lines

    def _api(self, call):
        """One Batch API call; one that still fails after the SDK's retries stops the run with
        its state (the ledger) saved, so the same command resumes polling."""
        import openai

        try:
            return call()
        except openai.APIStatusError as exc:
            message = self._key.scrub(f"http_{exc.status_code}: {exc.message}")
        except openai.APIError as exc:
            message = self._key.scrub(f"{type(exc).__name__}: {exc}")
        self.last_error = message.splitlines()[0][:300]
        raise RunStopped(f"the Batch API failed ({self.last_error}); the batches sent so far are in "
                         f"{self.ledger.path}, and rerunning the same command polls them")

    def _send_live(self, failed: list[int], requests: Sequence[LMRequest], ids: list[str],
                   results: dict[str, LMResult]) -> None:
        if not failed or self.offline:
            return
        self.stats["sent_live"] += len(failed)
        for i, res in zip(failed, self.wire.generate([requests[i] for i in failed])):
            results[ids[i]] = res
            self.live_usage += res.usage


def _by_endpoint(indices: list[int], lines: list) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i in indices:
        if lines[i][0] is not None:
            groups.setdefault(lines[i][0], []).append(i)
    return groups


def _upper_bound(bodies: list[dict]) -> Usage:
    """Tokens at most: every answer at its max_tokens, prompts by the rate limiter's estimate."""
    usage = Usage()
    for body in bodies:
        chars = len(str(body.get("prompt") or "")) + sum(len(str(m.get("content", ""))) for m in body.get("messages") or ())
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        n = int(body.get("n") or 1)
        total = estimate_tokens(chars, max_tokens, n)
        usage += Usage(total - max_tokens * n, max_tokens * n)
    return usage


def _public_url(url: str | None) -> str | None:
    return redact_url(url)


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_writer(path, "wb") as fh:
        fh.write(data)

