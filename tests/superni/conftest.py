"""Fixtures for the SuperNI tests: the sample natural-instructions folder in ../shared, and a
tiny byte-level BPE tokenizer trained on the fly (the real gpt2 one cannot be downloaded here)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def superni_dir(shared_dir: Path) -> Path:
    return shared_dir / "upstream" / "superni"


@pytest.fixture(scope="session")
def sample_references(superni_dir: Path) -> Path:
    return superni_dir / "eval" / "test_references.sample.jsonl"


@pytest.fixture(scope="session")
def sample_task_names(superni_dir: Path) -> list[str]:
    return sorted(p.stem for p in (superni_dir / "tasks").glob("*.json"))


@pytest.fixture(scope="session")
def reference_rows(sample_references: Path) -> list[dict]:
    return [json.loads(line) for line in sample_references.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def tiny_bpe_dir(tmp_path_factory, reference_rows) -> Path:
    """A GPT-2-style byte-level BPE tokenizer (vocab 600) saved as a transformers folder."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    corpus = [r for row in reference_rows for r in row["references"]]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=600, min_frequency=2, special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                  unk_token="<|endoftext|>")
    out = tmp_path_factory.mktemp("tiny_bpe")
    tok.save_pretrained(out)
    return out


class FolderServer:
    """Serves `root` like raw.githubusercontent.com; `faults[path]` injects a failure:
    "truncate" (Content-Length larger than the body, then the connection closes),
    "corrupt" (half the bytes, complete response), "500" (server error)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.faults: dict[str, str] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                path = self.path.lstrip("/")
                server.requests.append(path)
                fault = server.faults.get(path)
                file = server.root / path
                if fault == "500":
                    self.send_error(500)
                    return
                if not file.is_file():
                    self.send_error(404)
                    return
                data = file.read_bytes()
                if fault == "corrupt":
                    data = data[: len(data) // 2]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data) * (2 if fault == "truncate" else 1)))
                self.end_headers()
                self.wfile.write(data)
                if fault == "truncate":
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def folder_server():
    """The `FolderServer` class: `with folder_server(root) as s: s.url`."""
    return FolderServer
