"""A planted API key must reach the server and nothing else: no log line at any level, no
stderr/stdout, no output file, no repr, no result."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from selfinstruct.generation.lm.base import LMRequest
from doubles.localserver import LocalServer

from .conftest import PLANTED_KEY, fast_client

LOGGERS = ("", "openai", "httpx", "httpx2", "httpcore", "selfinstruct")


def test_key_never_logged_in_process(caplog, capfd):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    with LocalServer(fault_rate=0.5, faults=["429", "500", "drop"], retry_after=0.01,
                     require_api_key=PLANTED_KEY) as srv:
        with fast_client(srv) as lm:
            results = lm.generate([LMRequest(prompt=f"p{i}") for i in range(20)])
            state = repr(lm) + repr(dict(lm.stats)) + repr(vars(lm))
        with fast_client(srv, api_key="sk-wrong-key") as bad:  # 401s get logged too
            failed = bad.generate([LMRequest(prompt="x")])
    assert srv.auth_headers.count(f"Bearer {PLANTED_KEY}") >= 20  # it was really sent
    assert caplog.records, "debug logging was captured"
    logged = "\n".join(r.getMessage() + repr(getattr(r, "args", "")) for r in caplog.records)
    out, err = capfd.readouterr()
    for text in (logged, out, err, state, repr(results), repr(failed)):
        assert PLANTED_KEY not in text
        assert "PLANTED" not in text


def test_key_never_printed_or_written_by_complete_command(tmp_path):
    out_file = tmp_path / "out.json"
    env = {**os.environ, "OPENAI_LOG": "debug", "SELFINSTRUCT_LOG": "debug"}
    env.pop("OPENAI_API_KEY", None)
    with LocalServer(require_api_key=PLANTED_KEY, fault_rate=0.3, faults=["429", "503"], retry_after=0.01) as srv:
        proc = subprocess.run(
            [sys.executable, "-m", "selfinstruct.generation.cli", "complete", "--base-url", srv.base_url,
             "--api-key", PLANTED_KEY, "--model", "local-test-model", "--out", str(out_file), "--json",
             "first prompt", "second prompt", "--max-retries", "8"],
            capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert srv.auth_headers and all(h == f"Bearer {PLANTED_KEY}" for h in srv.auth_headers)
    written = out_file.read_text()
    assert json.loads(written)["settings"]["api_key_set"] is True
    for text in (proc.stdout, proc.stderr, written):
        assert "PLANTED" not in text
    leftovers = [p for p in Path(tmp_path).rglob("*") if p.is_file() and "PLANTED" in p.read_text(errors="ignore")]
    assert leftovers == []


def test_secret_holder_hides_and_scrubs():
    from selfinstruct.generation.lm.openai_backend import _Secret

    secret = _Secret(PLANTED_KEY)
    assert PLANTED_KEY not in repr(secret) + str(secret)
    assert secret.scrub(f"401: bad key {PLANTED_KEY}") == "401: bad key ***"
    assert secret.reveal() == PLANTED_KEY
