"""A Batch API stand-in on 127.0.0.1: `LocalServer` plus OpenAI's files and batches endpoints.

  POST /v1/files (multipart, purpose=batch)   GET /v1/files/{id}/content
  POST /v1/batches   GET /v1/batches   GET /v1/batches/{id}   POST /v1/batches/{id}/cancel

A batch is answered line by line through the same responder (and the same answer building) as
live requests, so a batch run and a live run against one responder see the same texts. Lifecycle:
validating -> in_progress -> completed, after `delay` seconds, or only once `release()` is called
when made with `hold=True` (a test kills a client while its batch is in progress, without
timing). `fail_ids(pred)` makes the matching items fail (in the error file) on their first
submission only; `expire_next(k)` lets the next k batches expire with every item in the error file.

What it saw: `submissions` (custom_id -> times submitted), `created` (batch ids), `uploads`.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any

from selfinstruct.generation.jsonl import dumps_bytes

from .localserver import LocalServer, _Handler, _Server


class BatchStandin(LocalServer):
    def __init__(self, *args: Any, delay: float = 0.0, hold: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay
        self._released = threading.Event()
        if not hold:
            self._released.set()
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.submissions: Counter[str] = Counter()
        self.created: list[str] = []
        self.uploads = 0
        self._fail: Callable[[str], bool] = lambda cid: False
        self._failed_once: set[str] = set()
        self._expire = 0
        self._ids = 0

    # -- control ---------------------------------------------------------------------------
    def release(self) -> None:
        self._released.set()

    def fail_ids(self, pred: Callable[[str], bool]) -> None:
        self._fail = pred

    def expire_next(self, k: int = 1) -> None:
        self._expire += k

    def start(self) -> "BatchStandin":
        handler = type("Handler", (_BatchHandler,), {"server_ref": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="BatchStandin", daemon=True)
        self._thread.start()
        return self

    def statuses(self) -> list[str]:
        with self._lock:
            return [b["status"] for b in self.batches.values()]

    # -- objects ---------------------------------------------------------------------------
    def _new_id(self, kind: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{kind}-{self._ids:04d}"

    def add_file(self, name: str, data: bytes, purpose: str) -> dict:
        fid = self._new_id("file")
        obj = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
               "filename": name, "purpose": purpose, "status": "processed"}
        with self._lock:
            self.files[fid] = {**obj, "_data": data}
        return obj

    def create_batch(self, body: dict) -> tuple[int, dict]:
        fid = body.get("input_file_id")
        if fid not in self.files:
            return 404, {"error": {"message": f"no file {fid}", "type": "invalid_request_error"}}
        lines = [json.loads(l) for l in self.files[fid]["_data"].splitlines() if l.strip()]
        bid = self._new_id("batch")
        batch = {"id": bid, "object": "batch", "endpoint": body.get("endpoint"), "input_file_id": fid,
                 "completion_window": body.get("completion_window", "24h"), "status": "validating",
                 "created_at": int(time.time()), "output_file_id": None, "error_file_id": None,
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                 "metadata": body.get("metadata")}
        with self._lock:
            for line in lines:
                self.submissions[line["custom_id"]] += 1
            self.batches[bid] = batch
            self.created.append(bid)
            expire = self._expire > 0
            self._expire -= 1 if expire else 0
        threading.Thread(target=self._process, args=(bid, lines, expire), daemon=True).start()
        return 200, dict(batch)

    def _process(self, bid: str, lines: list[dict], expire: bool) -> None:
        batch = self.batches[bid]
        batch["status"] = "in_progress"
        self._released.wait()
        if self.delay:
            time.sleep(self.delay)
        if batch["status"] in ("cancelling", "cancelled"):
            batch["status"] = "cancelled"
            return
        out, err = [], []
        for line in lines:
            cid = line["custom_id"]
            if expire or (self._fail(cid) and cid not in self._failed_once):
                self._failed_once.add(cid)
                code = "batch_expired" if expire else "server_error"
                err.append({"id": f"req-{cid}", "custom_id": cid, "response": None,
                            "error": {"code": code, "message": "injected"}})
                continue
            body = self.build_response(line["url"], line["body"], None)
            out.append({"id": f"req-{cid}", "custom_id": cid, "error": None,
                        "response": {"status_code": 200, "request_id": cid, "body": body}})
        if out:
            batch["output_file_id"] = self.add_file(f"{bid}_output.jsonl", _jsonl(out), "batch_output")["id"]
        if err:
            batch["error_file_id"] = self.add_file(f"{bid}_error.jsonl", _jsonl(err), "batch_output")["id"]
        batch["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(err)}
        batch["status"] = "expired" if expire else "completed"

    def answer_file(self, data: bytes) -> bytes:
        """What `vllm run-batch` writes for a request file: one result line per request."""
        out = []
        for line in (json.loads(l) for l in data.splitlines() if l.strip()):
            body = self.build_response(line["url"], line["body"], None)
            out.append({"id": f"vllm-{line['custom_id']}", "custom_id": line["custom_id"], "error": None,
                        "response": {"status_code": 200, "request_id": line["custom_id"], "body": body}})
        return _jsonl(out)


def _jsonl(rows: list[dict]) -> bytes:
    return b"".join(dumps_bytes(r) + b"\n" for r in rows)


def _public(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


class _BatchHandler(_Handler):
    server_ref: BatchStandin

    def do_GET(self) -> None:  # noqa: N802
        srv, path = self.server_ref, self.path.split("?")[0].rstrip("/")
        if path == "/v1/batches":
            data = [_public(b) for b in reversed(list(srv.batches.values()))]
            return self._send_json(200, {"object": "list", "data": data, "has_more": False})
        if path.startswith("/v1/batches/"):
            batch = srv.batches.get(path.rsplit("/", 1)[-1])
            return self._send_json(200, _public(batch)) if batch else self._error(404, "no batch", "not_found")
        if path.startswith("/v1/files/") and path.endswith("/content"):
            f = srv.files.get(path.split("/")[3])
            if f is None:
                return self._error(404, "no file", "not_found")
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(f["_data"])))
            self.end_headers()
            self.wfile.write(f["_data"])
            return None
        return super().do_GET()

    def do_POST(self) -> None:  # noqa: N802
        srv, path = self.server_ref, self.path.rstrip("/")
        if not path.startswith(("/v1/files", "/v1/batches")):
            return super().do_POST()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        srv._record(path, None, None, self.headers.get("Authorization"))
        if not self._authorized():
            return self._error(401, "invalid api key", "invalid_request_error")
        if path == "/v1/files":
            head = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
            msg = BytesParser(policy=email_policy).parsebytes(head + raw)
            parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
            upload = parts["file"]
            srv.uploads += 1
            purpose = parts["purpose"].get_payload(decode=True).decode()
            return self._send_json(200, srv.add_file(upload.get_filename() or "upload.jsonl",
                                                     upload.get_payload(decode=True), purpose))
        if path == "/v1/batches":
            return self._send_json(*srv.create_batch(json.loads(raw or b"{}")))
        if path.endswith("/cancel"):
            batch = srv.batches.get(path.split("/")[3])
            if batch is None:
                return self._error(404, "no batch", "not_found")
            if batch["status"] not in ("completed", "failed", "expired", "cancelled"):
                batch["status"] = "cancelled"
            return self._send_json(200, _public(batch))
        return self._error(404, f"no route {self.path}", "not_found")
