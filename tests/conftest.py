"""Fixtures every area's tests share. Area-specific fixtures live in tests/<area>/conftest.py."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    env = os.environ.get("SELFINSTRUCT_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared", REPO / "shared"]
    for c in candidates:
        if (c / "upstream").is_dir():
            return c
    raise RuntimeError("../shared not found beside the checkout (set SELFINSTRUCT_SHARED)")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder: upstream data, specs and the benchmark corpus."""
    return _find_shared()


@pytest.fixture(scope="session")
def upstream_seed_file(shared_dir: Path) -> Path:
    return shared_dir / "upstream" / "self-instruct" / "data" / "seed_tasks.jsonl"


@pytest.fixture(scope="session")
def user_oriented_file(shared_dir: Path) -> Path:
    return shared_dir / "upstream" / "self-instruct" / "human_eval" / "user_oriented_instructions.jsonl"


@pytest.fixture(scope="session")
def embedded_lm():
    """The embedded SmolLM2-135M-Instruct through the local transformers backend, loaded once."""
    from selfinstruct.generation.lm.config import BackendConfig
    from selfinstruct.generation.lm.factory import make_backend

    lm = make_backend(BackendConfig())
    yield lm
    lm.close()


@pytest.fixture(scope="module")
def static_server():
    """`static_server(folder)` -> "http://127.0.0.1:PORT/" of a real HTTP server serving `folder`.

    Download code (upstream data, SuperNI tasks, the user-oriented set) is tested against this
    instead of the real hosts, which this machine cannot reach.
    """
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    servers = []

    def start(folder) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
