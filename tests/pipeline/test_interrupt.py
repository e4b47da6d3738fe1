"""Ctrl-C during `generate` while requests are out: one line, exit 130, no asyncio dump or
traceback, and the same command resumes the run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder

from .conftest import SECRET


def _argv(out, srv, seed_file) -> list[str]:
    return [sys.executable, "-m", "selfinstruct.generation.cli", "generate", "--out", str(out), "--model",
            "local-test-model", "--base-url", srv.base_url, "--api-key", SECRET, "--seed-tasks", str(seed_file),
            "--num-instructions", "5", "--concurrency", "4", "--no-summary"]


def test_ctrl_c_with_requests_in_flight_is_one_line_and_resumable(tmp_path, seed_file):
    out = tmp_path / "run"
    with LocalServer(synthetic_responder, latency=60.0) as srv:
        proc = subprocess.Popen(_argv(out, srv, seed_file), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "PYTHONWARNINGS": "default"})
        try:
            deadline = time.monotonic() + 120
            while not srv.received and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert srv.received, "no request reached the server"
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr and "Task was destroyed" not in stderr and "Exception ignored" not in stderr
        assert [line for line in stderr.splitlines() if "interrupt" in line.lower()] == [
            "interrupted; rerun the same command to resume"]
        srv.latency = 0.0
        done = subprocess.run(_argv(out, srv, seed_file) + ["--no-progress"], capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
