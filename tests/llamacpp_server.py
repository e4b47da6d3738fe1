"""llama.cpp's own HTTP server (the `xllamacpp` wheel) serving the embedded GGUF on 127.0.0.1,
for tests that need a real third-party OpenAI-compatible server, not our scripted one."""
from __future__ import annotations

import gc
import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LlamaCppServer:
    gguf: Path
    n_ctx: int = 4096
    slots: int = 2
    port: int = 0
    _server: object | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, wait: float = 120.0) -> "LlamaCppServer":
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(self.gguf)
        params.n_ctx = self.n_ctx * self.slots  # the context is shared by the slots
        params.n_parallel = self.slots
        self.port = _free_port()
        params.port = self.port
        params.hostnames = ["127.0.0.1"]
        params.verbosity = -1
        self._server = xllamacpp.Server(params)
        deadline = time.monotonic() + wait
        while True:
            try:
                urllib.request.urlopen(self.base_url + "/models", timeout=2).read()
                return self
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama.cpp server did not answer on {self.base_url} within {wait:.0f} s")
                time.sleep(0.2)

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def stop(self) -> None:
        self._server = None  # the server's destructor joins its threads and closes the port
        gc.collect()
