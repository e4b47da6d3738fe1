"""Fixtures for the backend tests: a real local OpenAI-compatible server and fast clients."""
from __future__ import annotations

import pytest

from doubles.localserver import LocalServer
from selfinstruct.generation.lm.openai_backend import OpenAICompatibleBackend

PLANTED_KEY = "sk-test-PLANTED-SECRET-7f3a9c1e5b"


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


def fast_client(srv: LocalServer, model: str | None = None, **kw) -> OpenAICompatibleBackend:
    """A client with millisecond backoff so retry tests take seconds, not minutes."""
    opts = dict(base_url=srv.base_url, api_key=PLANTED_KEY, base_delay=0.01, max_delay=0.05, timeout=5.0)
    opts.update(kw)
    return OpenAICompatibleBackend(model or srv.model_name, **opts)


@pytest.fixture
def client(server):
    lm = fast_client(server)
    yield lm
    lm.close()
