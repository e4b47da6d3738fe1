"""A server slower than the timeout: the run stops within one batch with a line naming the
flags, resumable; a local server's timed-out work is not sent again; the live status shows it."""
from __future__ import annotations

import io
import json

from selfinstruct.generation import cli
from doubles.localserver import LocalServer
from selfinstruct.generation.lm.retry import default_timeout, is_loopback
from selfinstruct.generation.pipeline import progress
from doubles.synthetic import synthetic_responder

from .conftest import SECRET


def _argv(out, srv, *extra):
    return ["generate", "--out", str(out), "--model", "local-test-model", "--base-url", srv.base_url,
            "--api-key", SECRET, "--num-instructions", "4", "--concurrency", "2", "--no-progress", "--no-summary",
            *extra]


def test_timeouts_stop_the_step_with_the_flags_to_change_then_it_resumes(tmp_path, capsys, seed_file):
    out = tmp_path / "run"
    with LocalServer(synthetic_responder, latency=1.5) as srv:
        code = cli.main(_argv(out, srv, "--timeout", "0.3", "--seed-tasks", str(seed_file)))
        err = capsys.readouterr().err
        assert code == 3
        assert "timed out" in err and "--timeout" in err and "--concurrency" in err and "resume" in err
        assert len(srv.received) == 2  # one batch, each request sent once: local timeouts are not resent
        assert json.loads((out / "manifest.json").read_text())["status"] == "stopped_failures"
        srv.latency = 0.0
        assert cli.main(_argv(out, srv, "--seed-tasks", str(seed_file))) == 0
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_local_servers_get_a_long_timeout():
    assert is_loopback("http://127.0.0.1:8000/v1") and is_loopback("http://localhost:1/v1")
    assert not is_loopback("https://api.openai.com/v1") and not is_loopback(None)
    assert default_timeout("http://[::1]:8/v1") > default_timeout("https://api.openai.com/v1")


def test_the_bar_shows_requests_in_flight_retries_and_the_last_error():
    from tqdm import tqdm

    class Busy:
        in_flight, last_error = 3, "timeout: no response within the timeout"
        stats = {"retries": 2, "error:timeout": 1}

    buf = io.StringIO()
    bar = tqdm(total=10, file=buf, desc="instances")
    progress.update_bar(bar, 1, incremental=True, kept=1, rejected=0, tokens=5, cost=0.0, failed=0)
    with progress.ticking(bar, lambda: progress.backend_status(Busy()), every=0.05):
        import time

        time.sleep(0.3)
    bar.close()
    text = buf.getvalue()
    assert "in_flight=3" in text and "retried=2" in text and "timed_out=1" in text and "last_error" in text
    assert "kept=1" in text
